//! Retention: deleting what is older than the configured number of days.
//!
//! A conversation expires when its **last activity** (`updated_at`: its last message, status
//! change or rating) is before the cutoff; deleting it deletes everything that references it
//! (foreign keys cascade: messages, tickets, notes, outbox events, stream tickets, inbox
//! decisions, LINE links and deliveries). LINE webhook events (they hold what the customer wrote)
//! expire by arrival, and LINE deliveries tied to no conversation by creation. Nothing is
//! anonymised: expired rows are gone.
//!
//! Deletes run in batches, each its own short transaction, so the sweep never holds the write
//! lock for long. They are idempotent, so two replicas sweeping at once would do no harm; on
//! PostgreSQL each batch also takes an advisory lock, and a replica that finds it taken leaves
//! the sweep to the one holding it.
use chrono::{DateTime, Utc};

use super::dialect::{on, ByDialect, Tx};
use super::error::StoreError;
use super::privacy_model::Swept;
use super::{sql, Store};

/// The advisory lock key of the sweep (PostgreSQL): "madoguchi retention".
const RETENTION_LOCK: i64 = 0x6d61_646f_7265_7465;

impl Store {
    /// Deletes the conversations last active before `cutoff` (with everything derived from
    /// them), the LINE events received before it and the LINE deliveries of no conversation
    /// created before it, `batch` rows per transaction.
    pub async fn delete_expired(
        &self,
        cutoff: DateTime<Utc>,
        batch: u32,
    ) -> Result<Swept, StoreError> {
        let batch = i64::from(batch.max(1));
        let statements = [
            sql::EXPIRE_CONVERSATIONS,
            sql::EXPIRE_LINE_EVENTS,
            sql::EXPIRE_LINE_DELIVERIES,
        ];
        let mut counts = [0; 3];
        for (i, statement) in statements.into_iter().enumerate() {
            match self.expire_all(statement, cutoff, batch).await? {
                Some(n) => counts[i] = n,
                None => return Ok(swept(counts, true)),
            }
        }
        Ok(swept(counts, false))
    }

    /// Runs `statement` batch after batch until a batch deletes fewer than `batch` rows; None
    /// when another replica holds the sweep's lock.
    async fn expire_all(
        &self,
        statement: &'static str,
        cutoff: DateTime<Utc>,
        batch: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin_write().await?;
            if !take_lock(&mut tx).await? {
                return Ok(None);
            }
            let n = on!(&mut tx, D, c => {
                sqlx::query(statement)
                    .bind(D::ts(cutoff))
                    .bind(batch)
                    .execute(c)
                    .await?
                    .rows_affected()
            });
            tx.commit().await?;
            total += n;
            if n < batch as u64 {
                return Ok(Some(total));
            }
        }
    }
}

fn swept([conversations, line_events, line_deliveries]: [u64; 3], busy: bool) -> Swept {
    Swept {
        conversations,
        line_events,
        line_deliveries,
        busy,
    }
}

/// PostgreSQL: the sweep's advisory lock for this transaction, if free. SQLite: always (its
/// write transactions are already one at a time).
async fn take_lock(tx: &mut Tx) -> Result<bool, StoreError> {
    match tx {
        ByDialect::Sqlite(_) => Ok(true),
        ByDialect::Postgres(tx) => Ok(sqlx::query_scalar(sql::TRY_RETENTION_LOCK)
            .bind(RETENTION_LOCK)
            .fetch_one(&mut **tx)
            .await?),
    }
}
