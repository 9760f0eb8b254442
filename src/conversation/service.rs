//! [`Conversations`]: the conversation service's handle — the store, the classifier queue, the
//! dialogue engine, the event bus and the stream limits it works with — and its settings. Its
//! methods live beside what they do (`turn`, `customer`, `agent`, `reply`, `stream`).
//!
//! The dialogue (the catalog's intents and templates) is swappable: a publish or a template edit
//! replaces it for the turns that start afterwards, while turns in progress finish with the one
//! they took.
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::events::EventBus;
use super::limits::StreamLimits;
use super::ConversationError;
use crate::dialogue::Dialogue;
use crate::domain::Locale;
use crate::nlu::queue::NluHandle;
use crate::nlu::Classification;
use crate::store::Store;

/// The service's knobs (from the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest customer message, in characters.
    pub max_message_chars: usize,
    /// Average minutes a person needs per waiting ticket (for the expected wait).
    pub minutes_per_ticket: f64,
}

/// The conversation service. Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    nlu: NluHandle,
    dialogue: RwLock<Arc<Dialogue>>,
    /// Where `reload_catalog` reads the catalog from.
    intents_dir: PathBuf,
    locales: Vec<Locale>,
    settings: Settings,
    bus: EventBus,
    streams: StreamLimits,
}

/// What the service is built from.
pub struct Parts {
    pub store: Store,
    pub nlu: NluHandle,
    pub dialogue: Dialogue,
    /// The catalog directory the dialogue was loaded from (`reload_catalog` reads it again).
    pub intents_dir: PathBuf,
    /// The catalog's locales (a conversation may only choose one of them).
    pub locales: Vec<Locale>,
    pub settings: Settings,
    pub bus: EventBus,
    pub streams: StreamLimits,
}

impl Conversations {
    pub fn new(parts: Parts) -> Conversations {
        Conversations {
            inner: Arc::new(Inner {
                store: parts.store,
                nlu: parts.nlu,
                dialogue: RwLock::new(Arc::new(parts.dialogue)),
                intents_dir: parts.intents_dir,
                locales: parts.locales,
                settings: parts.settings,
                bus: parts.bus,
                streams: parts.streams,
            }),
        }
    }

    /// Classifies messages without a conversation (the developer API), through the same queue.
    pub async fn classify(
        &self,
        texts: Vec<String>,
    ) -> Result<Vec<Classification>, ConversationError> {
        let max = self.settings().max_message_chars;
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() {
                return Err(ConversationError::Invalid(format!("texts[{i}] is empty")));
            }
            if t.chars().count() > max {
                return Err(ConversationError::Invalid(format!(
                    "texts[{i}] is longer than {max} characters"
                )));
            }
        }
        Ok(self.nlu().classify_many(texts).await?)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn nlu(&self) -> &NluHandle {
        &self.inner.nlu
    }

    /// The dialogue in force now (a turn holds on to it until it is done).
    pub fn dialogue(&self) -> Arc<Dialogue> {
        self.inner
            .dialogue
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the dialogue for every turn that starts from now on.
    pub fn replace_dialogue(&self, dialogue: Dialogue) {
        *self
            .inner
            .dialogue
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(dialogue);
    }

    /// Reads the catalog (intents, templates, `_dialogue.yaml`) again and applies it at once: a
    /// template-only edit needs no retrain. A catalog with problems is refused (`Invalid`, listing
    /// them) and the dialogue in force stays.
    pub async fn reload_catalog(&self) -> Result<(), ConversationError> {
        let dir = self.inner.intents_dir.clone();
        let dialogue = tokio::task::spawn_blocking(move || load_dialogue(&dir))
            .await
            .map_err(ConversationError::internal)??;
        self.replace_dialogue(dialogue);
        Ok(())
    }

    /// The catalog directory the dialogue comes from.
    pub fn intents_dir(&self) -> &Path {
        &self.inner.intents_dir
    }

    pub fn locales(&self) -> &[Locale] {
        &self.inner.locales
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    pub(super) fn streams(&self) -> &StreamLimits {
        &self.inner.streams
    }
}

/// Loads the catalog in `intents_dir` and builds its dialogue; every problem is reported at once
/// (`Invalid`).
pub fn load_dialogue(intents_dir: &Path) -> Result<Dialogue, ConversationError> {
    let mut problems = Vec::new();
    let catalog = crate::catalog::Catalog::load(intents_dir, &mut problems).map_err(|e| {
        ConversationError::Invalid(format!("cannot load {}: {e}", intents_dir.display()))
    })?;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(ConversationError::Invalid(format!(
            "{} problem(s) in {}:\n{}",
            problems.len(),
            intents_dir.display(),
            list.join("\n")
        )));
    }
    Dialogue::load(&catalog, intents_dir)
        .map_err(|e| ConversationError::Invalid(format!("{}: {e}", intents_dir.display())))
}
