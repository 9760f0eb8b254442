//! Live events between replicas: PostgreSQL `LISTEN`/`NOTIFY` (SQLite has one process, so none).
use super::error::StoreError;

/// A subscription to one PostgreSQL notification channel.
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    pub(super) fn new(inner: sqlx::postgres::PgListener) -> Listener {
        Listener { inner }
    }

    /// The next payload; Ok(None) when the connection was lost and re-established (notifications
    /// may have been missed: the caller resyncs).
    pub async fn recv(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .inner
            .try_recv()
            .await?
            .map(|n| n.payload().to_string()))
    }
}
