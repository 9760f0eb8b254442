//! The LINE channel's records (see `line.rs`), in a leaf file so that the store's module file
//! can re-export them without an import cycle.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A webhook event to keep (its signature was checked).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLineEvent {
    pub webhook_event_id: String,
    pub user_id: Option<String>,
    pub event_type: String,
    /// The event object as LINE sent it.
    pub event: Value,
    pub reply_token: Option<String>,
    pub reply_until: Option<DateTime<Utc>>,
}

/// A stored webhook event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineEvent {
    pub seq: i64,
    pub webhook_event_id: String,
    pub user_id: Option<String>,
    pub event_type: String,
    pub event: Value,
    pub reply_token: Option<String>,
    pub reply_until: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub attempts: u32,
    pub done_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A LINE user's conversation and how far it was relayed to LINE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineLink {
    pub conversation_id: Uuid,
    pub user_id: String,
    pub relayed_seq: i64,
    pub csat_asked: bool,
    pub created_at: DateTime<Utc>,
}

/// One LINE API call to make (1 to 5 message objects).
#[derive(Debug, Clone)]
pub struct NewLineDelivery {
    /// What it delivers (unique: a second copy is not stored).
    pub source: String,
    pub user_id: String,
    pub conversation_id: Option<Uuid>,
    pub messages: Value,
    pub reply_token: Option<String>,
    pub reply_until: Option<DateTime<Utc>>,
}

/// A stored LINE API call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineDelivery {
    pub seq: i64,
    pub source: String,
    pub user_id: String,
    pub conversation_id: Option<Uuid>,
    pub messages: Value,
    pub reply_token: Option<String>,
    pub reply_until: Option<DateTime<Utc>>,
    /// `X-Line-Retry-Key` of its pushes.
    pub retry_key: Uuid,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
    /// `reply` or `push`.
    pub delivered_by: Option<String>,
    pub dead_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Deliveries by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineDeliveryStats {
    pub pending: u64,
    pub dead: u64,
    pub delivered: u64,
}
