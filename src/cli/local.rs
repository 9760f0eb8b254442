//! An in-process bot for the terminal tools (`chat`, `eval --conversations`): the same state as
//! `serve` builds — store, classifier queue, conversation service — without HTTP, on a
//! temporary SQLite file unless a database is given.
use std::path::PathBuf;

use anyhow::Context;

use super::serve::{build_state, classifier_loader};
use super::Paths;
use crate::api::AppState;
use crate::config::Config;

/// A loaded bot; `close` it to remove its temporary database.
pub struct LocalBot {
    pub state: AppState,
    temp: PathBuf,
}

impl LocalBot {
    /// Builds the service and waits until the model is loaded.
    pub async fn start(paths: &Paths, database: Option<String>) -> anyhow::Result<LocalBot> {
        let temp = std::env::temp_dir().join(format!("madoguchi-local-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        let database =
            database.unwrap_or_else(|| format!("sqlite://{}", temp.join("local.db").display()));
        let config = Config {
            database,
            ..Config::default()
        };
        let (state, _stop, loaded) = build_state(paths, config, classifier_loader(paths)).await?;
        eprintln!("loading the model…");
        loaded
            .await
            .context("the inference thread stopped")?
            .map_err(|e| anyhow::anyhow!("cannot load the classifier: {e}"))?;
        Ok(LocalBot { state, temp })
    }

    pub async fn close(self) {
        self.state.store.close().await;
        let _ = std::fs::remove_dir_all(&self.temp);
    }
}
