//! [`AppState`]: everything a handler may use — the configuration and the conversation service.
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::conversation::Conversations;
use crate::nlu::queue::NluHandle;
use crate::store::Store;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The one path to every conversation step.
    pub conversations: Conversations,
    /// For health checks (the service owns the same handles).
    pub store: Store,
    pub nlu: NluHandle,
    /// The KPIs `/metrics` exports, read from the database at most once per TTL.
    pub kpis: crate::conversation::kpis::KpiCache,
    /// The model this replica serves: publish, roll back, versions (the studio and the CLI).
    pub models: crate::studio::ModelService,
    /// Turns true when the server shuts down (live streams end).
    pub shutdown: watch::Receiver<bool>,
    /// The lead's studio: the catalog files it edits and its caches (`serve` sets the paths).
    pub studio: crate::studio::Studio,
    /// The API's rate limits (this replica's).
    pub limits: Arc<super::limits::RateLimits>,
    /// When each API key's use was last written.
    pub key_uses: Arc<super::key_uses::KeyUses>,
}

impl AppState {
    /// Builds the state; returns the sender that signals shutdown to live streams.
    pub fn new(
        config: Config,
        conversations: Conversations,
        models: crate::studio::ModelService,
    ) -> (AppState, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let kpis = crate::conversation::kpis::KpiCache::new(
            conversations.store().clone(),
            crate::conversation::kpis::DEFAULT_KPI_TTL,
        );
        let limits = Arc::new(super::limits::RateLimits::new(&config));
        (
            AppState {
                limits,
                key_uses: Arc::default(),
                config: Arc::new(config),
                store: conversations.store().clone(),
                nlu: conversations.nlu().clone(),
                kpis,
                models,
                conversations,
                shutdown: rx,
                studio: crate::studio::Studio::new(crate::studio::Workspace::default()),
            },
            tx,
        )
    }
}
