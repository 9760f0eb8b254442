//! The annotation inbox's data: the customer messages the bot missed (read from the stored turns,
//! with the turn's classification), and the leads' decisions about them (`inbox_decisions`). A
//! message with a decision no longer shows in the inbox; undoing deletes the decisions of one
//! action together.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::check::now;
use super::dialect::on;
use super::error::StoreError;
use super::{sql, Store};
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
struct InboxMessageRow<I> {
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
struct InboxDecisionRow<I> {
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

impl Store {
    /// The undecided customer messages the bot missed, newest first (see
    /// [`sql::INBOX_CANDIDATES`] for what counts as a miss).
    pub async fn inbox_candidates(
        &self,
        scan: &InboxScan,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<InboxMessageRow<D::Id>> = sqlx::query_as(sql::INBOX_CANDIDATES)
                .bind(scan.since.map(D::ts))
                .bind(scan.until.map(D::ts))
                .bind(scan.low_confidence)
                .bind(scan.limit)
                .fetch_all(c)
                .await?;
            Ok(rows.into_iter().map(InboxMessage::from).collect())
        })
    }

    /// One customer message with its turn (None when there is no such customer message).
    pub async fn inbox_message(
        &self,
        message_id: Uuid,
    ) -> Result<Option<InboxMessage>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<InboxMessageRow<D::Id>> = sqlx::query_as(sql::INBOX_MESSAGE)
                .bind(D::id(message_id))
                .fetch_optional(c)
                .await?;
            Ok(row.map(InboxMessage::from))
        })
    }

    /// Records the decisions of one action under a new batch id (returned), all or none:
    /// `Conflict` when one of the messages already has a decision.
    pub async fn record_inbox_decisions(
        &self,
        decided_by: &str,
        decisions: &[NewInboxDecision],
    ) -> Result<Uuid, StoreError> {
        let batch_id = Uuid::new_v4();
        let at = now();
        let mut tx = self.pool.begin_write().await?;
        for d in decisions {
            on!(&mut tx, D, c => {
                sqlx::query(sql::INSERT_INBOX_DECISION)
                    .bind(D::id(Uuid::new_v4()))
                    .bind(D::id(d.message_id))
                    .bind(D::id(batch_id))
                    .bind(d.kind.as_str())
                    .bind(d.intent.as_deref())
                    .bind(d.locale.as_deref())
                    .bind(d.example.as_deref())
                    .bind(decided_by)
                    .bind(D::ts(at))
                    .execute(c)
                    .await
                    .map_err(|e| {
                        StoreError::from_write(
                            e,
                            "inbox decision (a message is decided once; undo first)",
                        )
                    })?;
            });
        }
        tx.commit().await?;
        Ok(batch_id)
    }

    /// Deletes the decisions of one action and returns them (empty when there were none).
    pub async fn undo_inbox_batch(&self, batch_id: Uuid) -> Result<Vec<InboxDecision>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let rows = on!(&mut tx, D, c => {
            let rows: Vec<InboxDecisionRow<D::Id>> = sqlx::query_as(sql::DELETE_INBOX_BATCH)
                .bind(D::id(batch_id))
                .fetch_all(c)
                .await?;
            rows.into_iter()
                .map(InboxDecision::try_from)
                .collect::<Result<Vec<_>, _>>()?
        });
        tx.commit().await?;
        Ok(rows)
    }
}
