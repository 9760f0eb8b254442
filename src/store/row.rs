//! Rows as the drivers decode them, and their conversion into the records of [`super::model`].
//!
//! Generic over the id column type: PostgreSQL decodes `uuid` into [`Uuid`], SQLite decodes the
//! hyphenated text into [`uuid::fmt::Hyphenated`]. Everything else decodes alike in both dialects.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::error::StoreError;
use super::model::{
    BotAction, Conversation, ConversationStatus, Handoff, HandoffStatus, Message, Note,
    OutboxEvent, Role,
};
use crate::domain::{HandoffReason, IntentName, Locale, TurnKind};

#[derive(sqlx::FromRow)]
pub(super) struct ConversationRow<I> {
    id: I,
    locale: Option<String>,
    customer: Option<Json<Value>>,
    token_sha256: String,
    status: String,
    dialogue_state: Json<Value>,
    version: i64,
    last_seq: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    csat_score: Option<i32>,
    csat_comment: Option<String>,
    first_contact_resolution: Option<bool>,
}

impl<I: Into<Uuid>> TryFrom<ConversationRow<I>> for Conversation {
    type Error = StoreError;

    fn try_from(row: ConversationRow<I>) -> Result<Self, StoreError> {
        let id = row.id.into();
        Ok(Conversation {
            id,
            locale: row
                .locale
                .map(|l| parse(|s| Locale::parse(s).ok(), &l, "conversation locale", id))
                .transpose()?,
            customer: row.customer.map(|j| j.0),
            token_sha256: row.token_sha256,
            status: parse(
                ConversationStatus::parse,
                &row.status,
                "conversation status",
                id,
            )?,
            dialogue_state: row.dialogue_state.0,
            version: row.version,
            last_seq: row.last_seq,
            created_at: row.created_at,
            updated_at: row.updated_at,
            resolved_at: row.resolved_at,
            csat_score: row
                .csat_score
                .map(|s| {
                    u8::try_from(s)
                        .map_err(|_| StoreError::corrupt(format!("conversation {id}: csat {s}")))
                })
                .transpose()?,
            csat_comment: row.csat_comment,
            first_contact_resolution: row.first_contact_resolution,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow<I> {
    id: I,
    conversation_id: I,
    seq: i64,
    role: String,
    text: String,
    created_at: DateTime<Utc>,
    intent: Option<String>,
    confidence: Option<f64>,
    action: Option<String>,
    reason: Option<String>,
    alternatives: Option<Json<Value>>,
    quick_replies: Option<Json<Value>>,
    agent_id: Option<String>,
    feedback_helpful: Option<bool>,
    feedback_comment: Option<String>,
    client_message_id: Option<String>,
    outcome: Option<Json<Value>>,
}

impl<I: Into<Uuid>> TryFrom<MessageRow<I>> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow<I>) -> Result<Self, StoreError> {
        let id = row.id.into();
        Ok(Message {
            id,
            conversation_id: row.conversation_id.into(),
            seq: row.seq,
            role: parse(Role::parse, &row.role, "message role", id)?,
            text: row.text,
            created_at: row.created_at,
            intent: intent(row.intent, id)?,
            // Stored from an f32, so the narrowing is exact.
            confidence: row.confidence.map(|c| c as f32),
            action: row
                .action
                .map(|a| parse(BotAction::parse, &a, "message action", id))
                .transpose()?,
            reason: row
                .reason
                .map(|r| parse(TurnKind::parse, &r, "message reason", id))
                .transpose()?,
            alternatives: row.alternatives.map(|j| j.0),
            quick_replies: row.quick_replies.map(|j| j.0),
            agent_id: row.agent_id,
            feedback_helpful: row.feedback_helpful,
            feedback_comment: row.feedback_comment,
            client_message_id: row.client_message_id,
            outcome: row.outcome.map(|j| j.0),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct HandoffRow<I> {
    id: I,
    conversation_id: I,
    status: String,
    reason: String,
    intent: Option<String>,
    locale: String,
    summary: Json<Value>,
    created_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    claimed_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolution_code: Option<String>,
    returned_at: Option<DateTime<Utc>>,
}

impl<I: Into<Uuid>> TryFrom<HandoffRow<I>> for Handoff {
    type Error = StoreError;

    fn try_from(row: HandoffRow<I>) -> Result<Self, StoreError> {
        let id = row.id.into();
        Ok(Handoff {
            id,
            conversation_id: row.conversation_id.into(),
            status: parse(HandoffStatus::parse, &row.status, "handoff status", id)?,
            reason: parse(HandoffReason::parse, &row.reason, "handoff reason", id)?,
            intent: intent(row.intent, id)?,
            locale: parse(|s| Locale::parse(s).ok(), &row.locale, "handoff locale", id)?,
            summary: row.summary.0,
            created_at: row.created_at,
            claimed_at: row.claimed_at,
            claimed_by: row.claimed_by,
            resolved_at: row.resolved_at,
            resolution_code: row.resolution_code,
            returned_at: row.returned_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow<I> {
    id: I,
    event: String,
    ticket_id: I,
    conversation_id: I,
    created_at: DateTime<Utc>,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    dead_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl<I: Into<Uuid>> TryFrom<OutboxRow<I>> for OutboxEvent {
    type Error = StoreError;

    fn try_from(row: OutboxRow<I>) -> Result<Self, StoreError> {
        let id = row.id.into();
        Ok(OutboxEvent {
            id,
            event: row.event,
            ticket_id: row.ticket_id.into(),
            conversation_id: row.conversation_id.into(),
            created_at: row.created_at,
            attempts: u32::try_from(row.attempts).map_err(|_| {
                StoreError::corrupt(format!("outbox {id}: attempts {}", row.attempts))
            })?,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            dead_at: row.dead_at,
            last_error: row.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct NoteRow<I> {
    id: I,
    handoff_id: I,
    agent_id: String,
    text: String,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> TryFrom<NoteRow<I>> for Note {
    type Error = StoreError;

    fn try_from(row: NoteRow<I>) -> Result<Self, StoreError> {
        Ok(Note {
            id: row.id.into(),
            handoff_id: row.handoff_id.into(),
            agent_id: row.agent_id,
            text: row.text,
            created_at: row.created_at,
        })
    }
}

/// Outbox events by state (one row).
#[derive(sqlx::FromRow)]
pub(super) struct OutboxStatsRow {
    pub pending: i64,
    pub dead: i64,
    pub delivered: i64,
}

/// The conversation-level KPI aggregates (one row).
#[derive(sqlx::FromRow)]
pub(super) struct ConversationKpiRow {
    pub conversations: i64,
    pub contained: i64,
    pub handed_off: i64,
    pub csat_average: Option<f64>,
    pub csat_responses: i64,
    pub fcr_yes: i64,
    pub fcr_known: i64,
    pub mean_resolution_seconds: Option<f64>,
}

/// The ticket-level KPI aggregates (one row).
#[derive(sqlx::FromRow)]
pub(super) struct TicketKpiRow {
    pub tickets: i64,
    pub mean_claim_seconds: Option<f64>,
}

/// Bot actions of one intent.
#[derive(sqlx::FromRow)]
pub(super) struct IntentKpiRow {
    pub intent: Option<String>,
    pub answers: i64,
    pub clarifies: i64,
    pub handoffs: i64,
}

/// Feedback on bot answers (one row).
#[derive(sqlx::FromRow)]
pub(super) struct FeedbackKpiRow {
    pub helpful: i64,
    pub responses: i64,
}

/// Converts an optional row.
pub(super) fn convert_one<R, T>(row: Option<R>) -> Result<Option<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    row.map(T::try_from).transpose()
}

/// Converts rows, failing on the first one that does not decode.
pub(super) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

fn intent(text: Option<String>, id: Uuid) -> Result<Option<IntentName>, StoreError> {
    text.map(|t| parse(|s| IntentName::try_from(s).ok(), &t, "intent", id))
        .transpose()
}

fn parse<T>(
    parse: fn(&str) -> Option<T>,
    text: &str,
    what: &str,
    id: Uuid,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::corrupt(format!("{what} {text:?} of {id}")))
}
