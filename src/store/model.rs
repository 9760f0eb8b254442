//! The records the store reads and writes, shared by both dialects.
//!
//! Closed sets (statuses, roles, actions) are enums stored as lowercase text; everything the layers
//! above own (customer metadata, the dialogue state, a handoff summary, alternatives, quick
//! replies) is opaque JSON here.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub use crate::domain::{Action as BotAction, ConversationStatus, HandoffStatus, Role};
use crate::domain::{HandoffReason, IntentName, Locale, TurnKind};

/// A conversation between one customer and the bot (and, after a handoff, a person).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: Uuid,
    /// `ja`, `en`, … when the customer chose one; otherwise detected per message above the store.
    pub locale: Option<Locale>,
    /// Customer metadata as given when the conversation started (id, name, email, order_ids, …).
    pub customer: Option<Value>,
    /// SHA-256 (lowercase hex) of the customer's token. Never serialized.
    #[serde(skip_serializing)]
    pub token_sha256: String,
    pub status: ConversationStatus,
    /// Opaque state owned by the dialogue layer.
    pub dialogue_state: Value,
    /// Grows by one whenever the status or the dialogue state changes (optimistic concurrency:
    /// see `BotTurnRecord::expected_version`).
    pub version: i64,
    /// Seq of the last message (0 when there is none): `messages_after(id, last_seq)` is empty.
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub csat_score: Option<u8>,
    pub csat_comment: Option<String>,
    /// Set when the conversation is resolved: true when it was resolved by the bot alone or by the
    /// first person who took it, without a hand-back, a second ticket, or a ticket nobody claimed.
    pub first_contact_resolution: Option<bool>,
}

impl Conversation {
    /// Whether `token` is this conversation's customer token (compares hashes in constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        let given = super::token::sha256_hex(token);
        super::api_key_model::secrets_equal(&given, &self.token_sha256)
    }
}

/// One message of a conversation's transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// 1, 2, 3, … within the conversation.
    pub seq: i64,
    pub role: Role,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// Bot messages: the intent the turn was about (None when out of scope).
    pub intent: Option<IntentName>,
    /// Bot messages: calibrated confidence of that intent.
    pub confidence: Option<f32>,
    /// Bot messages: answer, clarify or handoff.
    pub action: Option<BotAction>,
    /// Bot messages: why that action (a stable code from the dialogue layer).
    pub reason: Option<TurnKind>,
    /// Bot messages: the runner-up intents, as the dialogue layer gave them.
    pub alternatives: Option<Value>,
    /// Bot messages: quick replies offered (clarification).
    pub quick_replies: Option<Value>,
    /// Agent messages: who wrote it.
    pub agent_id: Option<String>,
    /// Bot messages: the customer's "did this help?".
    pub feedback_helpful: Option<bool>,
    pub feedback_comment: Option<String>,
    /// Customer messages: the client's id for the message (a resend carries the same one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// Customer messages stored with their turn: an opaque snapshot of the turn's outcome,
    /// returned on a resend. Never serialized.
    #[serde(skip_serializing)]
    pub outcome: Option<Value>,
}

/// A handoff ticket: a conversation waiting for, or handled by, a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handoff {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub status: HandoffStatus,
    /// Why the bot handed off (a stable code from the dialogue layer).
    pub reason: HandoffReason,
    pub intent: Option<IntentName>,
    /// The language the customer writes in (agents filter the queue by it).
    pub locale: Locale,
    /// Everything an agent needs at a glance, built by the dialogue layer.
    pub summary: Value,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_code: Option<String>,
    pub returned_at: Option<DateTime<Utc>>,
}

/// What `create_conversation` needs.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub locale: Option<Locale>,
    pub customer: Option<Value>,
    /// SHA-256 (lowercase hex) of the customer token: see [`super::new_customer_token`].
    pub token_sha256: String,
}

/// A ticket to open with a bot turn.
#[derive(Debug, Clone)]
pub struct NewHandoff {
    /// Why (non-empty stable code, e.g. `low_confidence`, `always_handoff`, `frustration`).
    pub reason: HandoffReason,
    pub intent: Option<IntentName>,
    /// The customer's language (non-empty).
    pub locale: Locale,
    pub summary: Value,
}

/// Everything one bot turn changes, stored in one transaction by `record_bot_turn`.
#[derive(Debug, Clone)]
pub struct BotTurnRecord {
    /// The bot's message; None when the bot stays silent.
    pub reply: Option<String>,
    pub intent: Option<IntentName>,
    pub confidence: Option<f32>,
    pub action: BotAction,
    pub reason: Option<TurnKind>,
    pub alternatives: Option<Value>,
    pub quick_replies: Option<Value>,
    /// `Bot`, or `Handoff` together with `handoff` (or, with no reply and no ticket, to keep a
    /// conversation a person has in `Handoff`/`Agent` while updating the dialogue state).
    pub new_status: ConversationStatus,
    pub dialogue_state: Value,
    pub handoff: Option<NewHandoff>,
    /// The conversation's `version` this turn was computed from: the turn is refused with
    /// `StoreError::Stale` (and nothing stored) if the conversation has changed since, so two
    /// messages handled at once cannot overwrite each other's dialogue state. None: no check.
    pub expected_version: Option<i64>,
}

/// One customer turn, stored in one transaction by `record_customer_turn`: the customer's
/// message, then the bot's side exactly as `record_bot_turn` stores it.
#[derive(Debug, Clone)]
pub struct CustomerTurnRecord {
    pub text: String,
    /// The client's id for this message (already validated above the store: 1–64 visible ASCII).
    pub client_message_id: Option<String>,
    /// Opaque snapshot of the turn's outcome (stored on the customer message).
    pub outcome: Value,
    /// The bot's side of the turn, exactly as for `record_bot_turn` (expected_version set).
    pub bot: BotTurnRecord,
}

/// A stored customer turn: the customer's message, the bot's reply (if it spoke) and the ticket
/// opened at that turn (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTurn {
    pub message: Message,
    pub reply: Option<Message>,
    pub handoff: Option<Handoff>,
}

/// A webhook event waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEvent {
    pub id: Uuid,
    /// `handoff.opened` or `handoff.resolved`.
    pub event: String,
    pub ticket_id: Uuid,
    pub conversation_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Delivery attempts that failed so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set when the event was given up on (a dead letter).
    pub dead_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Outbox events by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Neither delivered nor dead.
    pub pending: u64,
    pub dead: u64,
    pub delivered: u64,
}

/// A private note on a ticket (agents only; not part of the transcript).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub id: Uuid,
    pub handoff_id: Uuid,
    pub agent_id: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// Which tickets `list_handoffs` returns (oldest first).
#[derive(Debug, Clone, Default)]
pub struct HandoffFilter {
    pub status: Option<HandoffStatus>,
    pub intent: Option<IntentName>,
    pub locale: Option<Locale>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Bot actions for one intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentActions {
    /// None for turns without an intent (out of scope).
    pub intent: Option<String>,
    pub answers: u64,
    pub clarifies: u64,
    pub handoffs: u64,
}

/// Key figures over the conversations (and their messages and tickets) created since a time.
///
/// Rates and averages are None when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub since: Option<DateTime<Utc>>,
    pub conversations: u64,
    /// Conversations resolved without any handoff ticket (resolved by the bot alone).
    pub contained: u64,
    /// Conversations with at least one handoff ticket.
    pub handoffs: u64,
    /// Handoff tickets created (a conversation can have several).
    pub tickets: u64,
    /// `handoffs / conversations`.
    pub handoff_rate: Option<f64>,
    /// `contained / conversations`.
    pub containment_rate: Option<f64>,
    pub csat_average: Option<f64>,
    pub csat_responses: u64,
    /// Among resolved conversations (see [`Conversation::first_contact_resolution`]).
    pub first_contact_resolution_rate: Option<f64>,
    /// Mean of `resolved_at - created_at` over resolved conversations.
    pub mean_time_to_resolution_seconds: Option<f64>,
    /// Mean of `claimed_at - created_at` over claimed tickets (the wait for a person).
    pub mean_time_to_claim_seconds: Option<f64>,
    /// Bot actions by intent (messages created since), by intent name, None last.
    pub answers_by_intent: Vec<IntentActions>,
    /// Helpful answers among those with feedback.
    pub helpful_rate: Option<f64>,
    pub feedback_responses: u64,
}
