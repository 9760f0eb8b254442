//! The LINE outbox's dispatcher: claims due deliveries (each the oldest undelivered one of its
//! user, so messages arrive in order) under a lease and calls LINE — the reply API on a first
//! attempt while the reply token is fresh, else the push API with the delivery's stored
//! `X-Line-Retry-Key` (LINE answers 409 to a key it already accepted, so a retry after a lost
//! answer never sends twice). 429, 5xx and timeouts are retried with exponential backoff; other
//! client errors, or running out of attempts, make a dead letter: counted, logged without personal
//! data, and noted on the conversation's ticket so agents see the customer did not get it.
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::client::Sent;
use super::settings::{DEAD_METRIC, DELIVERIES_METRIC, PENDING_METRIC};
use super::state::Line;
use crate::domain::HandoffStatus;
use crate::store::LineDelivery;

/// Deliveries claimed per round (each of a different user; sent concurrently).
const BATCH: u32 = 16;
/// How long a claimed delivery is this replica's (longer than one call's timeout).
const LEASE: Duration = Duration::from_secs(60);
/// Pause between rounds when nothing was due (unless woken by new deliveries).
const IDLE: Duration = Duration::from_millis(500);
/// First retry delay, doubled per attempt up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Attempts before a delivery becomes a dead letter (about 20 minutes of retries).
pub const MAX_ATTEMPTS: u32 = 10;
/// Who the note on the ticket is from.
const NOTE_AUTHOR: &str = "line-channel";

/// Delivers until `shutdown` turns true.
pub async fn run(line: Line, mut shutdown: watch::Receiver<bool>) {
    let mut last_stats = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = match line.store().claim_line_deliveries(BATCH, LEASE).await {
            Ok(deliveries) => deliveries,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the LINE outbox");
                Vec::new()
            }
        };
        let any = !claimed.is_empty();
        let mut tasks = tokio::task::JoinSet::new();
        for delivery in claimed {
            let line = line.clone();
            tasks.spawn(async move { deliver(&line, delivery).await });
        }
        while tasks.join_next().await.is_some() {}
        if any || last_stats.elapsed() > Duration::from_secs(5) {
            record_stats(&line).await;
            last_stats = std::time::Instant::now();
        }
        if !any {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = line.deliveries_written.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

async fn record_stats(line: &Line) {
    match line.store().line_delivery_stats().await {
        Ok(stats) => {
            metrics::gauge!(PENDING_METRIC).set(stats.pending as f64);
            metrics::gauge!(DEAD_METRIC).set(stats.dead as f64);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the LINE outbox"),
    }
}

/// One attempt at one delivery, and its outcome recorded.
#[tracing::instrument(skip_all, fields(delivery_seq = delivery.seq))]
async fn deliver(line: &Line, delivery: LineDelivery) {
    let reply_token = delivery
        .reply_token
        .as_deref()
        .filter(|_| delivery.attempts == 0)
        .filter(|_| delivery.reply_until.is_some_and(|until| until > Utc::now()));
    let (sent, by) = match reply_token {
        Some(token) => (line.api.reply(token, &delivery.messages).await, "reply"),
        None => {
            let sent = line
                .api
                .push(&delivery.user_id, &delivery.messages, delivery.retry_key)
                .await;
            (sent, "push")
        }
    };
    let store = line.store();
    let recorded = match sent {
        Sent::Delivered | Sent::AlreadyAccepted => {
            metrics::counter!(DELIVERIES_METRIC, "outcome" => "delivered", "api" => by)
                .increment(1);
            store.line_delivered(delivery.seq, by).await
        }
        // Used or expired: push at once (the retry drops the token).
        Sent::InvalidReplyToken => {
            metrics::counter!(DELIVERIES_METRIC, "outcome" => "reply_token_expired").increment(1);
            store
                .line_delivery_retry(delivery.seq, "the reply token was refused", Utc::now())
                .await
        }
        Sent::Retry(error) if delivery.attempts + 1 < MAX_ATTEMPTS => {
            metrics::counter!(DELIVERIES_METRIC, "outcome" => "retry", "api" => by).increment(1);
            tracing::warn!(attempt = delivery.attempts + 1, %error, "LINE delivery failed; will retry");
            let next = Utc::now() + backoff(delivery.attempts);
            store.line_delivery_retry(delivery.seq, &error, next).await
        }
        Sent::Retry(error) | Sent::GiveUp(error) => {
            metrics::counter!(DELIVERIES_METRIC, "outcome" => "dead", "api" => by).increment(1);
            tracing::error!(conversation_id = ?delivery.conversation_id, %error, "LINE delivery given up: dead letter");
            let recorded = store.line_delivery_dead(delivery.seq, &error).await;
            note_on_ticket(line, &delivery, &error).await;
            recorded
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record a LINE delivery's outcome");
    }
}

/// Delay before retry number `attempts + 1`.
pub fn backoff(attempts: u32) -> chrono::Duration {
    let delay = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.min(20)))
        .min(MAX_BACKOFF);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(300))
}

/// Tells the agents, on the conversation's open ticket (if it has one), that the customer did not
/// get a message. Best effort.
async fn note_on_ticket(line: &Line, delivery: &LineDelivery, error: &str) {
    let Some(conversation_id) = delivery.conversation_id else {
        return;
    };
    let store = line.store();
    let tickets = match store.conversation_handoffs(conversation_id).await {
        Ok(tickets) => tickets,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the conversation's tickets");
            return;
        }
    };
    let Some(ticket) = tickets
        .iter()
        .rev()
        .find(|t| t.status != HandoffStatus::Resolved)
        .or(tickets.last())
    else {
        return;
    };
    let text = format!(
        "LINE: a message could not be delivered to the customer ({error}); they have not seen it. \
         LINEへのメッセージ送信に失敗しました（お客様には届いていません）。"
    );
    if let Err(e) = store.add_note(ticket.id, NOTE_AUTHOR, &text).await {
        tracing::warn!(error = %e, "cannot note the failed LINE delivery on the ticket");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), chrono::Duration::seconds(1));
        assert_eq!(backoff(2), chrono::Duration::seconds(4));
        assert_eq!(backoff(30), chrono::Duration::seconds(300));
    }
}
