//! SQLite: the default store, one file (`sqlite://PATH`, created if missing).
//!
//! WAL journal (readers never block the writer), `synchronous = FULL` (a committed customer message
//! survives a power cut, not only a crash), foreign keys on, and a busy timeout so concurrent
//! writers queue instead of failing. Write transactions start with `BEGIN IMMEDIATE`: they take the
//! write lock before reading, so a read-then-write transaction can never be refused half-way.
//!
//! Ids are hyphenated UUID text; times are fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so
//! comparing the text compares the times; JSON is text; booleans are 0/1.
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};
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

/// The pool and this process's write turn.
///
/// SQLite has one writer at a time. Left to SQLite, writers that find the lock taken sleep in its
/// busy handler (1, 2, 5, 10 … 100 ms) and retry, so under load a turn could wait tens of
/// milliseconds for a lock that was free again after a fraction of one. Writers of this process
/// queue for the turn instead (first come, first served, woken the moment it is free); the busy
/// timeout still covers other processes (`madoguchi erase`, a backup).
#[derive(Clone)]
pub(super) struct Db {
    pub(super) pool: SqlitePool,
    write_turn: Arc<Mutex<()>>,
}

/// A write transaction that holds the write turn until it is committed or dropped (rolled back).
pub(super) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTx {
    /// Commits, then gives the turn back.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// A transaction holding the write lock from its start. Waits for the write turn at most as long
/// as SQLite would wait for the lock (a turn never held that long is a bug, not load).
pub(super) async fn begin_write(db: &Db) -> Result<WriteTx, sqlx::Error> {
    let turn = tokio::time::timeout(BUSY_TIMEOUT, db.write_turn.clone().lock_owned())
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?;
    let tx = db.pool.begin_with("BEGIN IMMEDIATE").await?;
    Ok(WriteTx { tx, _turn: turn })
}

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: u32 = 8;

/// Opens (creating the file and its directory if missing) the database at `url`.
pub(super) async fn connect(url: &str) -> Result<Db, StoreError> {
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
    Ok(Db {
        pool,
        write_turn: Arc::new(Mutex::new(())),
    })
}

pub(super) async fn migrate(db: &Db) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/sqlite").run(&db.pool).await?;
    Ok(())
}
