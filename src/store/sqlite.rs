//! SQLite: the default store, one file (`sqlite://PATH`, created if missing).
//!
//! WAL journal (readers never block the writer), `synchronous = FULL` (a committed customer message
//! survives a power cut, not only a crash), foreign keys on, and a busy timeout so concurrent
//! writers queue instead of failing. Write transactions start with `BEGIN IMMEDIATE`: they take the
//! write lock before reading, so a read-then-write transaction can never be refused half-way.
//!
//! Ids are hyphenated UUID text; times are fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so
//! comparing the text compares the times; JSON is text; booleans are 0/1.
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use super::error::StoreError;

/// The statements only this dialect spells this way.
pub(super) use super::sql::sqlite as sql;

/// How an id is bound and decoded.
pub(super) type Id = uuid::fmt::Hyphenated;

pub(super) fn id(id: Uuid) -> Id {
    id.hyphenated()
}

pub(super) fn uuid(id: Id) -> Uuid {
    id.into()
}

/// How a time is bound: text whose order is time order.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A transaction holding the write lock from its start.
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: u32 = 8;

/// Opens (creating the file and its directory if missing) the database at `url`.
pub(super) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    if let Some(dir) = options.get_filename().parent() {
        if !dir.as_os_str().is_empty() && !url.contains(":memory:") {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(sqlx::Error::Io)?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await?;
    Ok(pool)
}

pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/sqlite").run(pool).await?;
    Ok(())
}
