//! The event processor: takes stored webhook events (each the oldest undone event of its user, so
//! a user's events run one at a time, in order, on whichever replica claims them) and does what
//! each asks — a text is a customer turn through the conversation service, then a relay with the
//! event's reply token; follow greets; unfollow ends the conversation; other message types get a
//! polite "please write in text"; a postback is a quick reply choice or a CSAT score. An event
//! that cannot be processed now (classifier busy or loading, database down) is retried later, so
//! nothing the customer wrote is lost; one processed twice (a crash before it was marked done) is
//! answered once: its turn is idempotent by the event id and its answers are keyed by it.
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use super::inbound::Inbound;
use super::messages::{self, Button, Postback};
use super::relay::{self, locale_of, ReplyToken};
use super::settings::{EVENTS_METRIC, LOADING_AFTER, LOADING_SECONDS};
use super::state::Line;
use crate::conversation::ConversationError;
use crate::dialogue::DialogueState;
use crate::domain::{ClientMessageId, ConversationStatus};
use crate::store::{new_customer_token, Conversation, LineEvent, NewConversation, NewLineDelivery};

/// Events claimed per round (each of a different user; processed concurrently).
const BATCH: u32 = 16;
/// How long a claimed event is this replica's (longer than a turn and its relay).
const LEASE: Duration = Duration::from_secs(120);
/// Pause between rounds when nothing was due (the webhook only writes to the store, so this is
/// also the longest a new event waits).
const IDLE: Duration = Duration::from_millis(100);
/// First retry delay of an event, doubled per attempt up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Processes events until `shutdown` turns true.
pub async fn run(line: Line, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = match line.store().claim_line_events(BATCH, LEASE).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the LINE events");
                Vec::new()
            }
        };
        let any = !claimed.is_empty();
        let mut tasks = tokio::task::JoinSet::new();
        for event in claimed {
            let line = line.clone();
            tasks.spawn(async move { process(&line, event).await });
        }
        while tasks.join_next().await.is_some() {}
        if !any {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Processes one event and records the outcome.
#[tracing::instrument(skip_all, fields(event_seq = event.seq, kind = %event.event_type))]
async fn process(line: &Line, event: LineEvent) {
    let outcome = handle(line, &event).await;
    let store = line.store();
    let recorded = match outcome {
        Ok(()) => {
            metrics::counter!(EVENTS_METRIC, "outcome" => "processed").increment(1);
            store.line_event_done(event.seq).await
        }
        Err(e) => {
            metrics::counter!(EVENTS_METRIC, "outcome" => "retry").increment(1);
            tracing::warn!(error = %e, attempt = event.attempts + 1, "cannot process a LINE event now; will retry");
            let next = Utc::now() + backoff(event.attempts);
            store
                .line_event_retry(event.seq, &e.to_string(), next)
                .await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record a LINE event's outcome");
    }
}

fn backoff(attempts: u32) -> chrono::Duration {
    let delay = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.min(16)))
        .min(MAX_BACKOFF);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60))
}

/// What the event asks. An error means "try again later".
async fn handle(line: &Line, event: &LineEvent) -> Result<(), ConversationError> {
    let Some(user) = event.user_id.as_deref() else {
        tracing::info!("a LINE event from a group or room; only one-to-one chats are answered");
        return Ok(());
    };
    let reply = reply_token(event);
    match Inbound::of(&event.event) {
        Inbound::Text(text) => turn(line, event, user, &text, reply.as_ref()).await,
        Inbound::Postback(data) => postback(line, event, user, &data, reply.as_ref()).await,
        Inbound::NotText(_) => {
            let conversation = line.store().current_line_conversation(user).await?;
            let lines = line
                .copy
                .lines(conversation.as_ref().and_then(locale_of).as_ref());
            answer(line, event, user, &lines.text_only, &[], reply.as_ref()).await
        }
        Inbound::Follow => {
            let lines = line.copy.lines(None);
            answer(line, event, user, &lines.follow, &[], reply.as_ref()).await
        }
        Inbound::Unfollow => unfollow(line, user).await,
        Inbound::Other(kind) => {
            tracing::debug!(kind, "a LINE event with nothing to answer");
            Ok(())
        }
    }
}

fn reply_token(event: &LineEvent) -> Option<ReplyToken> {
    Some(ReplyToken {
        token: event.reply_token.clone()?,
        until: event.reply_until?,
    })
}

/// A customer turn on the user's current conversation, then the relay of its answer.
async fn turn(
    line: &Line,
    event: &LineEvent,
    user: &str,
    text: &str,
    reply: Option<&ReplyToken>,
) -> Result<(), ConversationError> {
    let conversation = current_or_new(line, user).await?;
    let message_id = client_message_id(&event.webhook_event_id);
    let loading = show_loading_later(line, user);
    let result = line
        .conversations
        .customer_turn(&conversation, text, Some(&message_id))
        .await;
    loading.abort();
    match result {
        Ok(_) => Ok(relay::relay(line, conversation.id, reply).await?),
        // Too long, empty, or with characters we refuse: say so instead of retrying forever.
        Err(ConversationError::Invalid(why)) => {
            tracing::info!(%why, "a LINE message was refused");
            let lines = line.copy.lines(locale_of(&conversation).as_ref());
            answer(line, event, user, &lines.too_long, &[], reply).await
        }
        Err(e) => Err(e),
    }
}

/// The event id as the turn's idempotency key (LINE's ids are 26 ASCII characters).
fn client_message_id(webhook_event_id: &str) -> ClientMessageId {
    ClientMessageId::try_from(format!("line:{webhook_event_id}")).unwrap_or_else(|_| {
        let hash = crate::store::sha256_hex(webhook_event_id);
        ClientMessageId::try_from(hash)
            .expect("64 hex digits are a client message id (this is a bug)")
    })
}

/// Starts LINE's loading animation if the turn takes longer than [`LOADING_AFTER`] (abort the
/// handle when it is done). Best effort: a failure only means no animation.
fn show_loading_later(line: &Line, user: &str) -> tokio::task::JoinHandle<()> {
    let api = line.api.clone();
    let user = user.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(LOADING_AFTER).await;
        let sent = api.loading(&user, LOADING_SECONDS).await;
        if sent != super::client::Sent::Delivered {
            tracing::debug!(?sent, "cannot show the LINE loading animation");
        }
    })
}

/// The user's current conversation, or a new one when there is none, it is resolved, or the bot
/// has it and it has been idle for the configured time (a conversation with a person stays).
async fn current_or_new(line: &Line, user: &str) -> Result<Conversation, ConversationError> {
    let store = line.store();
    if let Some(current) = store.current_line_conversation(user).await? {
        let idle = Utc::now() - current.updated_at
            > chrono::Duration::from_std(line.settings.idle).unwrap_or(chrono::Duration::MAX);
        let over = current.status == ConversationStatus::Resolved
            || (idle && current.status == ConversationStatus::Bot);
        if !over {
            return Ok(current);
        }
        // What is left for the customer (an agent's last words, the CSAT question) goes first.
        relay::relay(line, current.id, None).await?;
    }
    let (_, token_sha256) = new_customer_token();
    let new = NewConversation {
        locale: None,
        customer: None,
        token_sha256,
    };
    let conversation = store
        .start_line_conversation(user, new, japanese_by_default(line))
        .await?;
    tracing::info!(conversation_id = %conversation.id, "LINE conversation started");
    Ok(conversation)
}

/// The dialogue state a LINE conversation starts with: the locale is still read from every
/// message (Japanese script, or enough English words, switch it), but a message that shows no
/// language ("ok", "?", an order number) is answered in the channel's fallback (Japanese), not in
/// the dialogue's general fallback.
fn japanese_by_default(line: &Line) -> Value {
    let fallback = line.copy.fallback();
    let mut state = DialogueState::default();
    if line.conversations.locales().contains(fallback) {
        state.locale = Some(fallback.clone());
    }
    serde_json::to_value(state).unwrap_or_else(|_| serde_json::json!({}))
}

/// A tapped button: a quick reply choice is a turn with its value; a CSAT score is stored through
/// the conversation service and thanked for.
async fn postback(
    line: &Line,
    event: &LineEvent,
    user: &str,
    data: &str,
    reply: Option<&ReplyToken>,
) -> Result<(), ConversationError> {
    match Postback::parse(data) {
        Some(Postback::Choose(value)) => turn(line, event, user, &value, reply).await,
        Some(Postback::Csat {
            conversation,
            score,
        }) => csat(line, event, user, conversation, score, reply).await,
        None => {
            tracing::info!("a LINE postback that is not ours; ignored");
            Ok(())
        }
    }
}

async fn csat(
    line: &Line,
    event: &LineEvent,
    user: &str,
    conversation_id: uuid::Uuid,
    score: i64,
    reply: Option<&ReplyToken>,
) -> Result<(), ConversationError> {
    let store = line.store();
    let link = store.line_link(conversation_id).await?;
    let conversation = store.conversation(conversation_id).await?;
    let (Some(link), Some(conversation)) = (link, conversation) else {
        return Ok(());
    };
    // Only the conversation's own customer rates it.
    if link.user_id != user {
        tracing::warn!("a CSAT postback for another user's conversation; ignored");
        return Ok(());
    }
    match line.conversations.csat(&conversation, score, None).await {
        Ok(_) => {}
        Err(ConversationError::Invalid(why)) => {
            tracing::info!(%why, "a CSAT postback was refused");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let lines = line.copy.lines(locale_of(&conversation).as_ref());
    answer(line, event, user, &lines.csat_thanks, &[], reply).await
}

/// The user blocked the account: their conversation ends (no CSAT question: they cannot read it).
async fn unfollow(line: &Line, user: &str) -> Result<(), ConversationError> {
    let store = line.store();
    let Some(current) = store.current_line_conversation(user).await? else {
        return Ok(());
    };
    store.skip_line_csat(current.id).await?;
    if current.status != ConversationStatus::Resolved {
        line.conversations.end(&current).await?;
        tracing::info!(conversation_id = %current.id, "LINE user unfollowed; conversation ended");
    }
    Ok(())
}

/// An answer of the channel's own (not a conversation message), keyed by the event so that
/// processing the event twice sends it once.
async fn answer(
    line: &Line,
    event: &LineEvent,
    user: &str,
    text: &str,
    buttons: &[Button],
    reply: Option<&ReplyToken>,
) -> Result<(), ConversationError> {
    let conversation = line.store().current_line_conversation(user).await?;
    let deliveries: Vec<NewLineDelivery> = messages::calls(&[text.to_string()], buttons)
        .into_iter()
        .enumerate()
        .map(|(i, call)| NewLineDelivery {
            source: format!("event:{}:{i}", event.webhook_event_id),
            user_id: user.to_string(),
            conversation_id: conversation.as_ref().map(|c| c.id),
            messages: Value::Array(call),
            reply_token: reply.filter(|_| i == 0).map(|r| r.token.clone()),
            reply_until: reply.filter(|_| i == 0).map(|r| r.until),
        })
        .collect();
    line.store().enqueue_line_deliveries(&deliveries).await?;
    line.deliveries_written.notify_one();
    Ok(())
}
