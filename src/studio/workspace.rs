//! [`Studio`]: the lead's workspace — where the catalog, the training data and the models live —
//! with what the studio keeps between requests: a lock that serialises writes to those files, and
//! an in-memory cache of message embeddings (for grouping the inbox and "try it"'s neighbours).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::edit_error::EditError;
use crate::nlu::queue::NluHandle;

/// Where the catalog, the training data and the models live (as `serve` was told).
#[derive(Debug, Clone)]
pub struct Workspace {
    pub intents: PathBuf,
    pub training_data: PathBuf,
    pub models: PathBuf,
}

impl Default for Workspace {
    /// The CLI's defaults, relative to the working directory.
    fn default() -> Self {
        Workspace {
            intents: PathBuf::from("intents"),
            training_data: PathBuf::from("training-data"),
            models: PathBuf::from("models"),
        }
    }
}

/// Texts embedded per queue job: customers' messages wait behind at most this many.
const EMBED_CHUNK: usize = 32;
/// The cache is cleared when it holds more than this many texts (a few tens of MB at most).
const MAX_CACHED: usize = 50_000;

/// The studio's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Studio {
    inner: Arc<Inner>,
}

struct Inner {
    workspace: Workspace,
    /// Held while reading-then-writing catalog files, so two leads' edits never interleave.
    files: tokio::sync::Mutex<()>,
    embeddings: Mutex<HashMap<String, Arc<[f32]>>>,
}

impl Studio {
    pub fn new(workspace: Workspace) -> Studio {
        Studio {
            inner: Arc::new(Inner {
                workspace,
                files: tokio::sync::Mutex::new(()),
                embeddings: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn workspace(&self) -> &Workspace {
        &self.inner.workspace
    }

    /// Serialises catalog writes (held across the read, the checks and the write).
    pub(crate) async fn lock_files(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.files.lock().await
    }

    /// The embeddings of `texts`, in order: cached ones from memory, the others through the
    /// classifier queue in small jobs.
    pub async fn embed(
        &self,
        nlu: &NluHandle,
        texts: &[String],
    ) -> Result<Vec<Arc<[f32]>>, EditError> {
        let missing: Vec<String> = {
            let cache = self.cache();
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .filter(|t| !cache.contains_key(*t) && seen.insert(t.as_str()))
                .cloned()
                .collect()
        };
        for chunk in missing.chunks(EMBED_CHUNK) {
            let vectors = nlu.embed_many(chunk.to_vec()).await?;
            let mut cache = self.cache();
            if cache.len() + chunk.len() > MAX_CACHED {
                cache.clear();
            }
            for (text, v) in chunk.iter().zip(vectors) {
                cache.insert(text.clone(), v.into());
            }
        }
        let cache = self.cache();
        texts
            .iter()
            .map(|t| {
                cache
                    .get(t)
                    .cloned()
                    .ok_or_else(|| EditError::Internal("an embedding went missing".into()))
            })
            .collect()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[f32]>>> {
        self.inner
            .embeddings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Cosine similarity of two L2-normalised vectors.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
