//! A trained model on disk: `models/<version>/` with the head, the neighbour index and a manifest,
//! and `models/current` naming the version in use. Written to a temporary directory and renamed, so
//! a crash mid-write never leaves a half model behind.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::decision::{Action, Reason, Scores, Thresholds};
use super::encoder::Embeddings;
use super::error::NluError;
use super::fit::{CalibrationStats, FitOptions};
use super::head::Head;
use super::knn::NeighbourIndex;
use crate::catalog::HandoffMode;
use crate::domain::IntentName;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const HEAD_FILE: &str = "head.safetensors";
pub const INDEX_FILE: &str = "neighbours.safetensors";
pub const CURRENT_FILE: &str = "current";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentInfo {
    pub name: IntentName,
    pub handoff: HandoffMode,
    /// Per-intent answer threshold from the catalog, overriding the trained one.
    pub threshold: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncoderInfo {
    pub name: String,
    /// Fingerprint of weights + tokenizer + options (see [`super::Encoder::fingerprint`]).
    pub fingerprint: String,
    /// SHA-256 of `model.safetensors`.
    pub sha256: String,
    /// Kernels the training embeddings were computed with, e.g. `int8/avx512-vnni` (absent in
    /// manifests written before kernels could be chosen: f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainMetrics {
    pub examples: usize,
    pub out_of_scope_examples: usize,
    pub calibration: CalibrationStats,
    pub embed_seconds: f64,
    pub fit_seconds: f64,
    pub new_texts_embedded: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: String,
    pub created_at: String,
    pub encoder: EncoderInfo,
    /// SHA-256 over the catalog and training files the model was trained from.
    pub catalog_sha256: String,
    pub intents: Vec<IntentInfo>,
    pub has_out_of_scope_class: bool,
    pub temperature: f32,
    pub thresholds: Thresholds,
    pub options: FitOptions,
    pub metrics: TrainMetrics,
}

/// One ranked alternative intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub intent: IntentName,
    pub confidence: f32,
}

/// The classification of one message (one line of `madoguchi classify --format jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub text: String,
    /// `None` when the message is out of scope.
    pub intent: Option<IntentName>,
    /// Calibrated probability of the best intent.
    pub confidence: f32,
    pub action: Action,
    pub reason: Reason,
    /// The next best intents, best first.
    pub alternatives: Vec<Alternative>,
    /// The confidence `intent` needed to be answered (its own threshold, else the model's).
    /// Not part of the JSON: 1.0 (nothing was measured against it) when read back.
    #[serde(skip, default = "no_threshold")]
    pub threshold: f32,
}

fn no_threshold() -> f32 {
    1.0
}

pub struct TrainedModel {
    pub manifest: Manifest,
    pub head: Head,
    pub index: NeighbourIndex,
}

impl TrainedModel {
    /// Classifies the embedded messages of one forward pass, reading the neighbour index once
    /// for all of them (it is larger than the cache).
    pub fn classify_rows(&self, texts: &[&str], rows: &Embeddings) -> Vec<Classification> {
        let m = &self.manifest;
        let queries: Vec<&[f32]> = (0..rows.len()).map(|i| rows.row(i)).collect();
        let similarities = self.index.max_similarities(&queries);
        texts
            .iter()
            .zip(queries.iter().zip(similarities))
            .map(|(text, (embedding, similarity))| {
                let logits = self.head.logits(embedding);
                let scores =
                    Scores::from_logits(&logits, m.temperature, m.intents.len(), similarity);
                self.decide(text, &scores)
            })
            .collect()
    }

    fn decide(&self, text: &str, scores: &Scores) -> Classification {
        let m = &self.manifest;
        let (top, p) = scores.top();
        let info = m.intents.get(top);
        let threshold = info
            .and_then(|i| i.threshold)
            .unwrap_or(m.thresholds.answer);
        let handoff_of = |i: usize| m.intents.get(i).map_or(HandoffMode::Auto, |i| i.handoff);
        let (intent, action, reason) = scores.decide(&m.thresholds, threshold, handoff_of);
        let alternatives = scores
            .ranked
            .iter()
            .skip(usize::from(intent.is_some()))
            .take(3)
            .filter_map(|&(i, c)| {
                m.intents.get(i).map(|info| Alternative {
                    intent: info.name.clone(),
                    confidence: round4(c),
                })
            })
            .collect();
        Classification {
            text: text.to_string(),
            intent: intent
                .and_then(|i| m.intents.get(i))
                .map(|i| i.name.clone()),
            confidence: round4(p),
            action,
            reason,
            alternatives,
            threshold,
        }
    }

    /// Writes `models_dir/<version>/` atomically and points `models_dir/current` at it.
    pub fn save(&self, models_dir: &Path) -> Result<PathBuf, NluError> {
        let version = &self.manifest.version;
        let final_dir = models_dir.join(version);
        let tmp = models_dir.join(format!(".tmp-{version}"));
        let io = |p: &Path, e| NluError::io(p, e);
        std::fs::create_dir_all(models_dir).map_err(|e| io(models_dir, e))?;
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        self.head.save(&tmp.join(HEAD_FILE))?;
        self.index.save(&tmp.join(INDEX_FILE))?;
        super::finetune::delta::attach(&self.manifest.encoder.fingerprint, models_dir, &tmp)?;
        let manifest = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| NluError::Training(e.to_string()))?;
        std::fs::write(tmp.join(MANIFEST_FILE), manifest).map_err(|e| io(&tmp, e))?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(|e| io(&final_dir, e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| io(&final_dir, e))?;
        let current_tmp = models_dir.join(".current.tmp");
        std::fs::write(&current_tmp, format!("{version}\n")).map_err(|e| io(&current_tmp, e))?;
        std::fs::rename(&current_tmp, models_dir.join(CURRENT_FILE))
            .map_err(|e| io(models_dir, e))?;
        Ok(final_dir)
    }

    /// Loads the version `models_dir/current` points at.
    pub fn load_current(models_dir: &Path) -> Result<Self, NluError> {
        let current = models_dir.join(CURRENT_FILE);
        let version = std::fs::read_to_string(&current).map_err(|_| NluError::NoTrainedModel {
            dir: models_dir.to_path_buf(),
        })?;
        Self::load(&models_dir.join(version.trim()))
    }

    pub fn load(dir: &Path) -> Result<Self, NluError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text =
            std::fs::read_to_string(&manifest_path).map_err(|_| NluError::NoTrainedModel {
                dir: dir.to_path_buf(),
            })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| NluError::bad_file(&manifest_path, e))?;
        if manifest.format != FORMAT_VERSION {
            return Err(NluError::bad_file(
                &manifest_path,
                format!(
                    "model format {} is not {FORMAT_VERSION}: retrain with `madoguchi train`",
                    manifest.format
                ),
            ));
        }
        let head = Head::load(&dir.join(HEAD_FILE))?;
        let index = NeighbourIndex::load(&dir.join(INDEX_FILE))?;
        let expected = manifest.intents.len() + usize::from(manifest.has_out_of_scope_class);
        if head.n_classes != expected {
            return Err(NluError::bad_file(
                dir.join(HEAD_FILE),
                format!(
                    "head has {} classes, manifest expects {expected}",
                    head.n_classes
                ),
            ));
        }
        Ok(Self {
            manifest,
            head,
            index,
        })
    }
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}
