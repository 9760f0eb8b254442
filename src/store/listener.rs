//! [`Listener`]: a subscription to one PostgreSQL notification channel, the receiving end of the
//! events replicas send each other (`Store::listen`).
use sqlx::postgres::PgListener;

use super::error::StoreError;

/// A subscription to one PostgreSQL notification channel (see [`Store::listen`]).
pub struct Listener {
    inner: PgListener,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    pub(super) fn new(inner: PgListener) -> Listener {
        Listener { inner }
    }

    /// The next payload; Ok(None) when the connection was lost and re-established
    /// (notifications may have been missed: the caller resyncs).
    pub async fn recv(&mut self) -> Result<Option<String>, StoreError> {
        let notification = self.inner.try_recv().await?;
        Ok(notification.map(|n| n.payload().to_string()))
    }
}
