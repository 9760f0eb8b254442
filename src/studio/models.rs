//! [`ModelService`]: the model this replica serves, and how it changes. Publishing or rolling back
//! loads the version first (a version that does not load is refused and the old model keeps
//! serving), records it in the database, then swaps it into the inference queue atomically
//! (queued requests finish on the old model, new ones use the new one) together with the catalog's
//! dialogue. Every replica follows the database: a notification (PostgreSQL) or a poll every
//! [`POLL_INTERVAL`] makes it load whatever is published.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::models_error::ModelError;
use super::publishing::{self, choice_of, MODELS_CHANNEL};
use crate::conversation::{load_dialogue, Conversations};
use crate::nlu::loader::{ModelChoice, ModelLoader};
use crate::nlu::versions::{self, VersionSummary};
use crate::nlu::Classifier;
use crate::store::{Publication, PublishAction};

/// How often a replica checks the published version in the database (besides notifications).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the catalog, training data, models and embedding cache live.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub intents: PathBuf,
    pub training_data: PathBuf,
    pub models: PathBuf,
    pub cache: PathBuf,
    /// The encoder's `model.safetensors`, hashed into a trained manifest (None: unknown).
    pub encoder_weights: Option<PathBuf>,
}

/// The model service of one replica. Cheap to clone.
#[derive(Clone)]
pub struct ModelService {
    inner: Arc<Inner>,
}

struct Inner {
    conversations: Conversations,
    loader: Arc<ModelLoader>,
    paths: ModelPaths,
    /// What this replica serves (None until known).
    applied: Mutex<Option<ModelChoice>>,
    /// A published choice that failed to load here: not retried on every poll.
    failed: Mutex<Option<ModelChoice>>,
    /// One switch at a time.
    switching: tokio::sync::Mutex<()>,
    pub(super) training: super::training_state::TrainingSlot,
}

/// One version on disk with its place in the story.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionEntry {
    #[serde(flatten)]
    pub summary: VersionSummary,
    /// The version every replica serves.
    pub published: bool,
    /// The last trained version (`models/current`).
    pub current: bool,
}

/// The versions under `models/` and the published one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Versions {
    pub versions: Vec<VersionEntry>,
    pub published: Option<Publication>,
    /// What this replica serves now.
    pub serving: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ModelService {
    /// `loader` is the one the inference thread loads with; `serving` what it loads first.
    pub fn new(
        conversations: Conversations,
        loader: Arc<ModelLoader>,
        paths: ModelPaths,
        serving: Option<ModelChoice>,
    ) -> ModelService {
        ModelService {
            inner: Arc::new(Inner {
                conversations,
                loader,
                paths,
                applied: Mutex::new(serving),
                failed: Mutex::new(None),
                switching: tokio::sync::Mutex::new(()),
                training: Default::default(),
            }),
        }
    }

    pub fn conversations(&self) -> &Conversations {
        &self.inner.conversations
    }

    pub fn paths(&self) -> &ModelPaths {
        &self.inner.paths
    }

    pub fn loader(&self) -> &Arc<ModelLoader> {
        &self.inner.loader
    }

    pub(super) fn training(&self) -> &super::training_state::TrainingSlot {
        &self.inner.training
    }

    /// What this replica serves.
    pub fn serving(&self) -> Option<ModelChoice> {
        lock(&self.inner.applied).clone()
    }

    /// Publishes `version` (with an answer threshold, None: the trained one) on every replica.
    pub async fn publish(
        &self,
        actor: &str,
        version: &str,
        threshold: Option<f32>,
    ) -> Result<Publication, ModelError> {
        let choice = ModelChoice {
            version: version.to_string(),
            threshold,
        };
        self.switch(actor, choice, PublishAction::Publish).await
    }

    /// Rolls back to the previously published version, or to `to` (any earlier published one).
    pub async fn rollback(&self, actor: &str, to: Option<&str>) -> Result<Publication, ModelError> {
        let history = self.store().publications().await?;
        let choice = publishing::rollback_target(&history, to)?;
        self.switch(actor, choice, PublishAction::Rollback).await
    }

    /// Loads `choice` (refusing it if it does not load), records it, and serves it here.
    async fn switch(
        &self,
        actor: &str,
        choice: ModelChoice,
        action: PublishAction,
    ) -> Result<Publication, ModelError> {
        if let Some(t) = choice.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(ModelError::Invalid(format!(
                    "threshold {t} is not between 0 and 1"
                )));
            }
        }
        let _one_at_a_time = self.inner.switching.lock().await;
        let (classifier, dialogue) = self.load(&choice).await?;
        let publication = publishing::record_publish(self.store(), &choice, action, actor).await?;
        self.apply(choice, classifier, dialogue).await;
        Ok(publication)
    }

    /// Loads the classifier and the catalog's dialogue for `choice`, off the async threads.
    async fn load(
        &self,
        choice: &ModelChoice,
    ) -> Result<(Classifier, crate::dialogue::Dialogue), ModelError> {
        let loader = self.inner.loader.clone();
        let intents = self.inner.paths.intents.clone();
        let c = choice.clone();
        tokio::task::spawn_blocking(move || {
            let classifier = loader
                .load(&c)
                .map_err(|e| ModelError::unloadable(&c.version, e))?;
            let dialogue = load_dialogue(&intents).map_err(|e| {
                ModelError::Refused(format!(
                    "the catalog cannot be loaded with {}: {e}",
                    c.version
                ))
            })?;
            Ok((classifier, dialogue))
        })
        .await
        .map_err(ModelError::internal)?
    }

    /// Serves `classifier` and `dialogue` from now on.
    async fn apply(
        &self,
        choice: ModelChoice,
        classifier: Classifier,
        dialogue: crate::dialogue::Dialogue,
    ) {
        self.inner.loader.set_wanted(choice.clone());
        // The dialogue first: a new intent's answer is then ready when the model predicts it.
        self.conversations().replace_dialogue(dialogue);
        if let Err(e) = self.conversations().nlu().swap(Box::new(classifier)).await {
            // The worker is down; its loader loads the wanted version when it comes back.
            tracing::warn!(error = %e, "the inference worker is not serving; it loads the new model on restart");
        }
        tracing::info!(version = %choice.version, threshold = ?choice.threshold, "serving model");
        *lock(&self.inner.applied) = Some(choice);
        *lock(&self.inner.failed) = None;
    }

    /// Serves whatever the database says is published, if this replica does not already (a
    /// version that fails to load here is logged once and not retried until another is
    /// published).
    pub async fn follow_published(&self) -> Result<(), ModelError> {
        let Some(published) = self.store().published_model().await? else {
            return Ok(());
        };
        let choice = choice_of(&published);
        if self.serving().as_ref() == Some(&choice)
            || lock(&self.inner.failed).as_ref() == Some(&choice)
        {
            return Ok(());
        }
        let _one_at_a_time = self.inner.switching.lock().await;
        if self.serving().as_ref() == Some(&choice) {
            return Ok(());
        }
        match self.load(&choice).await {
            Ok((classifier, dialogue)) => {
                self.apply(choice, classifier, dialogue).await;
                Ok(())
            }
            Err(e) => {
                tracing::error!(version = %choice.version, error = %e, "cannot serve the published model; the old one keeps serving");
                *lock(&self.inner.failed) = Some(choice);
                Err(e)
            }
        }
    }

    /// Follows the published version until `shutdown`: on every notification and every
    /// [`POLL_INTERVAL`].
    pub fn spawn_follower(&self, mut shutdown: watch::Receiver<bool>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut listener = match this.store().listen(MODELS_CHANNEL).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for publishes; polling only");
                    None
                }
            };
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = notified(&mut listener) => {}
                    _ = shutdown.changed() => return,
                }
                // Errors are logged where they happen; the next tick tries again.
                let _ = this.follow_published().await;
            }
        });
    }

    /// The versions on disk, which is published and which this replica serves.
    pub async fn versions(&self) -> Result<Versions, ModelError> {
        let models = self.inner.paths.models.clone();
        let (list, current) = tokio::task::spawn_blocking(move || {
            (
                versions::list_versions(&models),
                versions::current_version(&models),
            )
        })
        .await
        .map_err(ModelError::internal)?;
        let list = list.map_err(ModelError::internal)?;
        let published = self.store().published_model().await?;
        let versions = list
            .into_iter()
            .map(|summary| VersionEntry {
                published: published
                    .as_ref()
                    .is_some_and(|p| p.version == summary.version),
                current: current.as_deref() == Some(summary.version.as_str()),
                summary,
            })
            .collect();
        Ok(Versions {
            versions,
            published,
            serving: self.serving().map(|c| c.version),
        })
    }

    fn store(&self) -> &crate::store::Store {
        self.conversations().store()
    }
}

/// The next notification (pending forever without a listener; a lost connection counts as one,
/// since something may have been missed).
async fn notified(listener: &mut Option<crate::store::Listener>) {
    match listener {
        Some(l) => {
            if let Err(e) = l.recv().await {
                tracing::warn!(error = %e, "publish listener failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        None => std::future::pending().await,
    }
}
