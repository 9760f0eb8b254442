//! The webhook dispatcher: delivers the outbox (handoff opened / resolved, written by the store in
//! the same transaction as the change) to the configured URL, signed with
//! `X-Madoguchi-Signature: sha256=<hex HMAC-SHA256 of the body>` and identified by
//! `X-Madoguchi-Delivery` (the event id, the same on every retry, so receivers deduplicate).
//!
//! Each replica runs one dispatcher. Events are claimed with a lease (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`), so with several replicas each event is delivered once; an event whose replica died
//! mid-delivery is claimed again when its lease runs out (at least once). Failures are retried
//! with exponential backoff; after the configured attempts, or on a client error that retrying
//! cannot fix, the event becomes a dead letter (`madoguchi outbox list --dead`, metric).
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::watch;

use crate::store::{OutboxEvent, Store};

/// Events claimed per round.
const BATCH: u32 = 16;
/// How long a claimed event is this replica's (longer than one delivery's timeout).
const LEASE: Duration = Duration::from_secs(60);
/// How long a delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Time a delivery needs besides the POST (reading the ticket, recording the outcome).
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Pause between rounds when nothing was due.
const IDLE: Duration = Duration::from_millis(500);
/// First retry delay, doubled per attempt up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
    /// Attempts before an event becomes a dead letter.
    pub attempts: u32,
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length (this is a bug)");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the dispatcher until `shutdown` turns true.
pub async fn dispatch(store: Store, target: WebhookTarget, mut shutdown: watch::Receiver<bool>) {
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let mut last_stats = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let delivered_any = match store.claim_outbox(BATCH, LEASE).await {
            Ok(events) => {
                let any = !events.is_empty();
                let claimed = std::time::Instant::now();
                for event in events {
                    // Past this point the event may be claimed again by another replica: the
                    // rest of the batch is left to whoever claims it once its lease ends.
                    if !lease_covers_delivery(claimed.elapsed()) {
                        break;
                    }
                    deliver_one(&store, &agent, &target, event).await;
                }
                any
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                false
            }
        };
        if last_stats.elapsed() > Duration::from_secs(5) {
            record_stats(&store).await;
            last_stats = std::time::Instant::now();
        }
        if !delivered_any {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

async fn record_stats(store: &Store) {
    match store.outbox_stats().await {
        Ok(stats) => {
            metrics::gauge!(crate::telemetry::OUTBOX_PENDING).set(stats.pending as f64);
            metrics::gauge!(crate::telemetry::OUTBOX_DEAD).set(stats.dead as f64);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the outbox"),
    }
}

/// What one delivery attempt came to.
enum Attempt {
    Delivered,
    /// Worth retrying (network, 5xx, 408, 429).
    Retry(String),
    /// Retrying cannot help (another 4xx, or the event's records are gone).
    GiveUp(String),
}

async fn deliver_one(
    store: &Store,
    agent: &ureq::Agent,
    target: &WebhookTarget,
    event: OutboxEvent,
) {
    let attempt = match body(store, &event).await {
        Ok(Some(body)) => post(agent.clone(), target.clone(), event.id, body).await,
        Ok(None) => Attempt::GiveUp("the ticket no longer exists".into()),
        Err(e) => Attempt::Retry(format!("cannot read the ticket: {e}")),
    };
    let outcome = match attempt {
        Attempt::Delivered => {
            metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "delivered")
                .increment(1);
            store.outbox_delivered(event.id).await
        }
        Attempt::Retry(error) if event.attempts + 1 < target.attempts.max(1) => {
            tracing::warn!(event_id = %event.id, attempt = event.attempts + 1, %error, "webhook delivery failed; will retry");
            metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "retry")
                .increment(1);
            let next = Utc::now() + backoff(event.attempts);
            store.outbox_retry(event.id, &error, next).await
        }
        Attempt::Retry(error) | Attempt::GiveUp(error) => {
            tracing::error!(event_id = %event.id, %error, "webhook delivery given up: dead letter");
            metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "dead")
                .increment(1);
            store.outbox_dead(event.id, &error).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, event_id = %event.id, "cannot record the delivery outcome");
    }
}

/// Whether an event claimed `elapsed` ago is still ours for a whole delivery attempt (with a
/// margin for reading its ticket and recording the outcome). A batch delivered one event after
/// another against a slow receiver can outlast its lease (16 × 10 s > 60 s).
fn lease_covers_delivery(elapsed: Duration) -> bool {
    elapsed + TIMEOUT + LEASE_MARGIN <= LEASE
}

/// Delay before retry number `attempts + 1`.
fn backoff(attempts: u32) -> chrono::Duration {
    let delay = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.min(20)))
        .min(MAX_BACKOFF);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(600))
}

/// The JSON body of an event: the ticket as it is now and the conversation's customer.
async fn body(
    store: &Store,
    event: &OutboxEvent,
) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
    let Some(ticket) = store.handoff(event.ticket_id).await? else {
        return Ok(None);
    };
    let Some(conversation) = store.conversation(event.conversation_id).await? else {
        return Ok(None);
    };
    // `handoff.created` is the name receivers have known since the first release.
    let name = match event.event.as_str() {
        "handoff.opened" => "handoff.created",
        other => other,
    };
    let payload = json!({
        "event": name,
        "delivery_id": event.id,
        "occurred_at": event.created_at,
        "ticket": ticket,
        "conversation": {
            "id": conversation.id,
            "locale": conversation.locale,
            "customer": conversation.customer,
        },
    });
    Ok(Some(payload.to_string().into_bytes()))
}

/// One POST, off the async runtime (ureq blocks).
async fn post(agent: ureq::Agent, target: WebhookTarget, id: uuid::Uuid, body: Vec<u8>) -> Attempt {
    let sent = tokio::task::spawn_blocking(move || {
        agent
            .post(&target.url)
            .set("Content-Type", "application/json")
            .set("X-Madoguchi-Signature", &signature(&target.secret, &body))
            .set("X-Madoguchi-Delivery", &id.to_string())
            .send_bytes(&body)
            .map(|_| ())
            .map_err(Box::new)
    })
    .await;
    match sent {
        Ok(Ok(())) => Attempt::Delivered,
        Ok(Err(e)) => match *e {
            ureq::Error::Status(code, _) => {
                let error = format!("the receiver answered {code}");
                if (400..500).contains(&code) && code != 408 && code != 429 {
                    Attempt::GiveUp(error)
                } else {
                    Attempt::Retry(error)
                }
            }
            other => Attempt::Retry(other.to_string()),
        },
        Err(e) => Attempt::Retry(format!("the delivery task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_batch_stops_before_its_lease_could_end_mid_delivery() {
        assert!(lease_covers_delivery(Duration::ZERO));
        assert!(lease_covers_delivery(LEASE - TIMEOUT - LEASE_MARGIN));
        assert!(!lease_covers_delivery(LEASE - TIMEOUT));
        // The worst case the batch size allows must be able to hit the limit.
        assert!(TIMEOUT * BATCH > LEASE);
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(0), chrono::Duration::seconds(1));
        assert_eq!(backoff(3), chrono::Duration::seconds(8));
        assert_eq!(backoff(30), chrono::Duration::seconds(600));
    }
}
