//! The KPI figures `/metrics` exports (containment and handoff rates, mean wait to claim, handoff
//! queue length), read from the database at most once per TTL.
//!
//! Computing them scans the conversations, messages and tickets, so a scrape must not pay for it
//! each time (Prometheus may scrape every few seconds, from several servers). [`KpiCache`] keeps
//! the last snapshot; a caller after the TTL refreshes it, and concurrent callers wait for that one
//! refresh instead of starting their own.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::store::{Kpis, Store, StoreError};

/// How long a snapshot is served before the next caller refreshes it.
pub const DEFAULT_KPI_TTL: Duration = Duration::from_secs(5);

/// The figures read in one refresh.
#[derive(Debug, Clone)]
pub struct KpiSnapshot {
    /// All-time KPIs (`Store::kpis(None)`).
    pub kpis: Kpis,
    /// Handoff tickets waiting for a person.
    pub waiting_tickets: u64,
    /// When this snapshot was read.
    pub refreshed_at: Instant,
}

/// A cached [`KpiSnapshot`]. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct KpiCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ttl: Duration,
    state: Mutex<CacheState>,
    refreshes: AtomicU64,
}

#[derive(Default)]
struct CacheState {
    snapshot: Option<Arc<KpiSnapshot>>,
    /// The last refresh attempt, successful or not: a failing database is not asked again on
    /// every scrape either.
    attempted_at: Option<Instant>,
}

impl KpiCache {
    pub fn new(store: Store, ttl: Duration) -> KpiCache {
        KpiCache {
            inner: Arc::new(Inner {
                store,
                ttl,
                state: Mutex::new(CacheState::default()),
                refreshes: AtomicU64::new(0),
            }),
        }
    }

    /// The snapshot, refreshed first when the last attempt is older than the TTL. When a refresh
    /// fails the previous snapshot is served (it carries its age); the error is returned only
    /// when there is none.
    pub async fn get(&self) -> Result<Arc<KpiSnapshot>, StoreError> {
        let mut state = self.inner.state.lock().await;
        let fresh = state
            .attempted_at
            .is_some_and(|at| at.elapsed() < self.inner.ttl);
        if let (true, Some(snapshot)) = (fresh, &state.snapshot) {
            return Ok(snapshot.clone());
        }
        state.attempted_at = Some(Instant::now());
        match self.refresh().await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                state.snapshot = Some(snapshot.clone());
                Ok(snapshot)
            }
            Err(e) => match &state.snapshot {
                Some(stale) => {
                    tracing::warn!(error = %e, "cannot refresh the KPIs; serving the last ones");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }

    /// How many times the database was asked (for tests and diagnostics).
    pub fn refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    async fn refresh(&self) -> Result<KpiSnapshot, StoreError> {
        self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
        let kpis = self.inner.store.kpis(None).await?;
        let waiting_tickets = self.inner.store.waiting_count().await?;
        Ok(KpiSnapshot {
            kpis,
            waiting_tickets,
            refreshed_at: Instant::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_store(dir: &std::path::Path) -> Store {
        let url = format!("sqlite://{}", dir.join("kpis.db").display());
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_scrapes_refresh_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = KpiCache::new(sqlite_store(dir.path()).await, Duration::from_secs(60));
        let scrapes: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await })
            })
            .collect();
        for scrape in scrapes {
            let snapshot = scrape.await.expect("join").expect("kpis");
            assert_eq!(snapshot.kpis.conversations, 0);
            assert_eq!(snapshot.waiting_tickets, 0);
        }
        for _ in 0..50 {
            cache.get().await.expect("kpis");
        }
        assert_eq!(cache.refreshes(), 1);
    }

    #[tokio::test]
    async fn a_stale_snapshot_is_refreshed_after_the_ttl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = KpiCache::new(sqlite_store(dir.path()).await, Duration::from_millis(50));
        let first = cache.get().await.expect("kpis");
        assert!(Arc::ptr_eq(&first, &cache.get().await.expect("kpis")));
        tokio::time::sleep(Duration::from_millis(80)).await;
        let second = cache.get().await.expect("kpis");
        assert!(second.refreshed_at > first.refreshed_at);
        assert_eq!(cache.refreshes(), 2);
    }
}
