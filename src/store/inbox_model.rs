//! The records of the annotation inbox (a leaf of the store module): a missed customer message
//! with its turn, the scan that finds them, and the leads' decisions.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::error::StoreError;
use crate::domain::InboxDecisionKind;

/// A customer message and what the bot made of it (its turn's bot message, ticket and the
/// conversation's CSAT).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxMessage {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// The conversation's locale.
    pub locale: Option<String>,
    pub csat_score: Option<i32>,
    /// The intent the bot chose (None: out of scope, or no bot message on that turn).
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    /// `answer`, `clarify` or `handoff`.
    pub action: Option<String>,
    /// The turn kind of the bot's message (`clarify`, `rephrase`, `out_of_scope`, …).
    pub turn_kind: Option<String>,
    /// The classifier's next best intents, as stored (`[{intent, confidence}]`).
    pub alternatives: Option<Value>,
    /// "Did this help?" on the bot's answer.
    pub feedback_helpful: Option<bool>,
    /// The reason of the ticket the turn opened.
    pub handoff_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct InboxMessageRow<I> {
    message_id: I,
    conversation_id: I,
    seq: i64,
    text: String,
    created_at: DateTime<Utc>,
    locale: Option<String>,
    csat_score: Option<i32>,
    intent: Option<String>,
    confidence: Option<f64>,
    action: Option<String>,
    turn_kind: Option<String>,
    alternatives: Option<Json<Value>>,
    feedback_helpful: Option<bool>,
    handoff_reason: Option<String>,
}

impl<I: Into<Uuid>> From<InboxMessageRow<I>> for InboxMessage {
    fn from(r: InboxMessageRow<I>) -> Self {
        InboxMessage {
            message_id: r.message_id.into(),
            conversation_id: r.conversation_id.into(),
            seq: r.seq,
            text: r.text,
            created_at: r.created_at,
            locale: r.locale,
            csat_score: r.csat_score,
            intent: r.intent,
            confidence: r.confidence,
            action: r.action,
            turn_kind: r.turn_kind,
            alternatives: r.alternatives.map(|j| j.0),
            feedback_helpful: r.feedback_helpful,
            handoff_reason: r.handoff_reason,
        }
    }
}

/// Which undecided messages to read.
#[derive(Debug, Clone)]
pub struct InboxScan {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// A bot message below this confidence is a miss.
    pub low_confidence: f64,
    pub limit: i64,
}

/// A lead's decision about one message, to record.
#[derive(Debug, Clone)]
pub struct NewInboxDecision {
    pub message_id: Uuid,
    pub kind: InboxDecisionKind,
    pub intent: Option<String>,
    pub locale: Option<String>,
    /// The utterance written to the training data.
    pub example: Option<String>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxDecision {
    pub id: Uuid,
    pub message_id: Uuid,
    pub batch_id: Uuid,
    pub kind: InboxDecisionKind,
    pub intent: Option<String>,
    pub locale: Option<String>,
    pub example: Option<String>,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct InboxDecisionRow<I> {
    id: I,
    message_id: I,
    batch_id: I,
    kind: String,
    intent: Option<String>,
    locale: Option<String>,
    example: Option<String>,
    decided_by: String,
    decided_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> TryFrom<InboxDecisionRow<I>> for InboxDecision {
    type Error = StoreError;

    fn try_from(r: InboxDecisionRow<I>) -> Result<Self, StoreError> {
        let id = r.id.into();
        let kind = InboxDecisionKind::parse(&r.kind).ok_or_else(|| {
            StoreError::corrupt(format!("inbox decision kind {:?} of {id}", r.kind))
        })?;
        Ok(InboxDecision {
            id,
            message_id: r.message_id.into(),
            batch_id: r.batch_id.into(),
            kind,
            intent: r.intent,
            locale: r.locale,
            example: r.example,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
        })
    }
}
