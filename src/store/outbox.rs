//! The webhook outbox: events written in the transaction that opens or resolves a ticket (when
//! [`Store::with_outbox`] is on), claimed by one replica at a time under a lease, then marked
//! delivered, retried later, or given up on (a dead letter).
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::check::{self, now};
use super::dialect::{on, Tx};
use super::error::StoreError;
use super::model::{OutboxEvent, OutboxStats};
use super::row::{self, OutboxRow, OutboxStatsRow};
use super::{sql, Store};

/// A ticket was opened (a conversation waits for a person).
pub(super) const HANDOFF_OPENED: &str = "handoff.opened";
/// A ticket was resolved (by its agent, or with its conversation).
pub(super) const HANDOFF_RESOLVED: &str = "handoff.resolved";

/// Writes one event, due now, inside the transaction that caused it.
pub(super) async fn write_outbox(
    tx: &mut Tx,
    event: &'static str,
    ticket_id: Uuid,
    conversation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on!(tx, D, c => {
        sqlx::query(sql::INSERT_OUTBOX)
            .bind(D::id(Uuid::new_v4()))
            .bind(event)
            .bind(D::id(ticket_id))
            .bind(D::id(conversation_id))
            .bind(D::ts(now))
            .execute(c)
            .await?;
    });
    Ok(())
}

impl Store {
    /// Sets whether ticket transactions also write outbox rows (off by default; `serve` turns it
    /// on when a webhook is configured). Opening a ticket ([`Store::record_bot_turn`] or
    /// [`Store::record_customer_turn`] with a handoff) writes `handoff.opened`; resolving tickets
    /// ([`Store::resolve`], or [`Store::resolve_conversation`] closing open ones) writes
    /// `handoff.resolved` per ticket — in the same transaction.
    pub fn with_outbox(self, enabled: bool) -> Store {
        Store {
            outbox: enabled,
            ..self
        }
    }

    /// Claims up to `limit` due events (not delivered, not dead, `next_attempt_at` passed, no
    /// live lease), leasing them for `lease`: nobody else claims them until it ends, so two
    /// replicas never deliver one event at once. Oldest due first.
    pub async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = check::limit(Some(limit))?;
        let now = now();
        let until = chrono::Duration::from_std(lease)
            .ok()
            .and_then(|lease| now.checked_add_signed(lease))
            .ok_or_else(|| StoreError::Invalid("the outbox lease is too long".into()))?;
        let mut tx = self.pool.begin_write().await?;
        let mut events: Vec<OutboxEvent> = on!(&mut tx, D, c => {
            let rows: Vec<OutboxRow<D::Id>> = sqlx::query_as(D::sql::CLAIM_OUTBOX)
                .bind(D::ts(now))
                .bind(D::ts(until))
                .bind(limit)
                .fetch_all(c)
                .await?;
            row::convert(rows)?
        });
        tx.commit().await?;
        events.sort_by_key(|e| (e.next_attempt_at, e.id));
        Ok(events)
    }

    /// Marks an event delivered. `NotFound` for an unknown event.
    pub async fn outbox_delivered(&self, id: Uuid) -> Result<(), StoreError> {
        self.update_outbox(sql::OUTBOX_DELIVERED, id, None, now())
            .await
    }

    /// A failed attempt to try again later: attempts += 1, `last_error`, `next_attempt_at`, the
    /// lease released.
    pub async fn outbox_retry(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = check::error_text(error);
        self.update_outbox(sql::OUTBOX_RETRY, id, Some(&error), next_attempt_at)
            .await
    }

    /// A failed attempt given up on: attempts += 1, `last_error`, `dead_at` = now.
    pub async fn outbox_dead(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        let error = check::error_text(error);
        self.update_outbox(sql::OUTBOX_DEAD, id, Some(&error), now())
            .await
    }

    /// Events, newest first; `dead_only` keeps the dead letters. `limit` as for
    /// [`Store::list_handoffs`] (default 100, at most 1000).
    pub async fn list_outbox(
        &self,
        dead_only: bool,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = check::limit(Some(limit))?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<OutboxRow<D::Id>> = sqlx::query_as(sql::LIST_OUTBOX)
                .bind(dead_only)
                .bind(limit)
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    /// Events by state.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let mut conn = self.pool.conn().await?;
        let row: OutboxStatsRow = on!(&mut conn, D, c => {
            sqlx::query_as(sql::OUTBOX_STATS).fetch_one(c).await?
        });
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(OutboxStats {
            pending: count(row.pending),
            dead: count(row.dead),
            delivered: count(row.delivered),
        })
    }

    /// Runs an event update (`$1` id; then the error, if any, and a time).
    async fn update_outbox(
        &self,
        statement: &'static str,
        id: Uuid,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        let updated = on!(&mut conn, D, c => {
            let mut query = sqlx::query_scalar::<_, D::Id>(statement).bind(D::id(id));
            if let Some(error) = error {
                query = query.bind(error);
            }
            query.bind(D::ts(at)).fetch_optional(c).await?.is_some()
        });
        if !updated {
            return Err(StoreError::not_found("outbox event", id));
        }
        Ok(())
    }
}
