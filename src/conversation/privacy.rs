//! Personal data in conversations: erasing one customer's data on request, and the retention job
//! that deletes conversations older than the configured number of days (see `store::erase` and
//! `store::retention` for exactly what goes).
//!
//! Logs name counts, never customer ids or anything a customer wrote; the audit log records who
//! erased which customer id.
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::{ConversationError, Conversations};
use crate::store::{Erased, Store, Swept};

/// How often the retention job sweeps (the first sweep runs at start).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
/// Rows deleted per transaction by the sweep.
const RETENTION_BATCH: u32 = 500;

impl Conversations {
    /// Erases every record of customer `customer_id` (a customer metadata `id` or a LINE user
    /// id) and audits it as done by `actor`.
    pub async fn erase_customer(
        &self,
        customer_id: &str,
        actor: &str,
    ) -> Result<Erased, ConversationError> {
        let customer_id = customer_id.trim();
        if customer_id.is_empty() {
            return Err(ConversationError::Invalid("customer_id is empty".into()));
        }
        let erased = self.store().erase_customer(customer_id, actor).await?;
        tracing::info!(
            actor,
            conversations = erased.conversations,
            messages = erased.messages,
            "customer data erased"
        );
        Ok(erased)
    }
}

/// One retention sweep: deletes what was last active more than `days` days ago.
pub async fn sweep(store: &Store, days: u32) -> Result<Swept, crate::store::StoreError> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    store.delete_expired(cutoff, RETENTION_BATCH).await
}

/// The retention job of `serve`: a sweep at start, then every [`RETENTION_INTERVAL`], until
/// `shutdown` turns true. Failures are logged and retried at the next round.
pub async fn retention(store: Store, days: u32, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(
        days,
        "retention on: conversations inactive longer are deleted hourly"
    );
    loop {
        if *shutdown.borrow() {
            return;
        }
        match sweep(&store, days).await {
            Ok(swept) if swept.busy => {
                tracing::debug!("retention: another replica is sweeping");
            }
            Ok(swept) => {
                let Swept {
                    conversations,
                    line_events,
                    line_deliveries,
                    ..
                } = swept;
                tracing::info!(
                    conversations,
                    line_events,
                    line_deliveries,
                    "retention sweep done"
                );
            }
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying next round"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_INTERVAL) => {}
            _ = shutdown.changed() => {}
        }
    }
}
