//! The annotation inbox's data: the customer messages the bot missed (read from the stored turns,
//! with the turn's classification), and the leads' decisions about them (`inbox_decisions`). A
//! message with a decision no longer shows in the inbox; undoing deletes the decisions of one
//! action together.
use uuid::Uuid;

use super::check::now;
use super::dialect::on;
use super::error::StoreError;
use super::inbox_model::{
    InboxDecision, InboxDecisionRow, InboxMessage, InboxMessageRow, InboxScan, NewInboxDecision,
};
use super::{sql, Store};

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
