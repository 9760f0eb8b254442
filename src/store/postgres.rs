//! PostgreSQL: the store that several stateless replicas share (`postgres://USER@HOST/DB`).
//!
//! Native types (`uuid`, `timestamptz`, `jsonb`, `boolean`). Write transactions run at READ
//! COMMITTED: every guarded `UPDATE … WHERE status …` locks its row, and a concurrent one re-checks
//! its condition after the first commits, so of two agents claiming a ticket exactly one wins, and
//! two replicas appending to one conversation take consecutive seqs.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::error::StoreError;

/// The statements only this dialect spells this way.
pub(super) use super::sql::postgres as sql;

/// How an id is bound and decoded.
pub(super) type Id = Uuid;

pub(super) fn id(id: Uuid) -> Id {
    id
}

pub(super) fn uuid(id: Id) -> Uuid {
    id
}

/// How a time is bound.
pub(super) fn ts(at: DateTime<Utc>) -> DateTime<Utc> {
    at
}

/// A write transaction: row locks are taken by the guarded updates themselves.
pub(super) async fn begin_write(
    pool: &PgPool,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the server at `url` (the database must exist).
pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await?;
    Ok(pool)
}

/// Runs the migrations (sqlx holds an advisory lock, so replicas starting together are safe).
pub(super) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
    Ok(())
}
