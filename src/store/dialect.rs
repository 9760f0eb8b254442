//! One store over two dialects: the pool, connection and transaction types of either, and
//! [`on!`], which runs one block of code against whichever the store has.
//!
//! `on!(&mut conn, D, c => body)` expands `body` once per dialect, with `c` the dialect's
//! connection (`&mut SqliteConnection` or `&mut PgConnection`) and `D` the dialect module
//! (`sqlite.rs` or `postgres.rs`) in scope: `D::id(uuid)` and `D::ts(time)` bind ids and times
//! the dialect's way, `D::Id` decodes ids (`D::uuid` turns one back into a `Uuid`), and
//! `D::sql::NAME` is a statement the dialects spell differently. So each query is written once,
//! and type-checked against both drivers.
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Sqlite, Transaction};

use super::error::StoreError;

/// A value of one dialect or the other.
#[derive(Clone)]
pub(super) enum ByDialect<S, P> {
    Sqlite(S),
    Postgres(P),
}

pub(super) type Pool = ByDialect<super::sqlite::Db, PgPool>;
/// A connection out of the pool (reads and single-statement writes).
pub(super) type Conn = ByDialect<PoolConnection<Sqlite>, PoolConnection<Postgres>>;
/// A write transaction (see each dialect's `begin_write`); dropped without `commit`, it rolls back.
pub(super) type Tx = ByDialect<super::sqlite::WriteTx, Transaction<'static, Postgres>>;

/// Runs `$body` with `$c` the dialect's connection and `$d` its module (see the module docs).
/// `$target` is a `&mut Conn` or a `&mut Tx`.
macro_rules! on {
    ($target:expr, $d:ident, $c:ident => $body:expr) => {
        match $target {
            $crate::store::dialect::ByDialect::Sqlite($c) => {
                #[allow(unused_imports)]
                use $crate::store::sqlite as $d;
                let $c = &mut **$c;
                $body
            }
            $crate::store::dialect::ByDialect::Postgres($c) => {
                #[allow(unused_imports)]
                use $crate::store::postgres as $d;
                let $c = &mut **$c;
                $body
            }
        }
    };
}

pub(super) use on;

impl Pool {
    pub(super) async fn conn(&self) -> Result<Conn, StoreError> {
        Ok(match self {
            ByDialect::Sqlite(db) => ByDialect::Sqlite(db.pool.acquire().await?),
            ByDialect::Postgres(pool) => ByDialect::Postgres(pool.acquire().await?),
        })
    }

    /// A write transaction (see each dialect's `begin_write`). Starting it runs to the end even
    /// when the caller goes away (see [`uncancellable`]).
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        let pool = self.clone();
        Ok(uncancellable(async move {
            Ok(match pool {
                ByDialect::Sqlite(db) => ByDialect::Sqlite(super::sqlite::begin_write(&db).await?),
                ByDialect::Postgres(pool) => {
                    ByDialect::Postgres(super::postgres::begin_write(&pool).await?)
                }
            })
        })
        .await?)
    }
}

impl Tx {
    /// Commits; runs to the end even when the caller goes away (see [`uncancellable`]).
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        uncancellable(async move {
            match self {
                ByDialect::Sqlite(tx) => tx.commit().await,
                ByDialect::Postgres(tx) => tx.commit().await,
            }
        })
        .await?;
        Ok(())
    }
}

/// Runs `work` to its end on its own task, whether or not the caller is still waiting: for the
/// steps of a transaction that must not stop half-way (`BEGIN`, `COMMIT`). A request whose client
/// disconnects is dropped wherever it waits, and sqlx 0.8 returned a connection whose `BEGIN` was
/// cancelled half-way to the pool still inside that transaction (sqlx issues 3932, 4393): on
/// SQLite holding the write lock, so every other writer waited out the busy timeout and failed
/// with "database is locked" (`tests/store.rs`, `cancelled_writes_leave_no_lock_behind`). A result
/// nobody waits for is dropped, which rolls an open transaction back.
async fn uncancellable<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T, sqlx::Error> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        // Only a panic inside sqlx gets here (the task is never aborted).
        Err(sqlx::Error::Io(std::io::Error::other(format!(
            "a database task failed: {e}"
        ))))
    })
}
