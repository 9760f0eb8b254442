//! `madoguchi train`: embed the catalog's training data (through the cache), fit and calibrate the
//! classifier, and write a new model version.
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::cache::EmbeddingCache;
use super::encoder::Encoder;
use super::error::NluError;
use super::finetune::delta::TrainedOn;
use super::fingerprint::file_sha256;
use super::fit::{fit, Calibration, FitOptions};
use super::model::{EncoderInfo, IntentInfo, Manifest, TrainMetrics, TrainedModel, FORMAT_VERSION};
use crate::catalog::{Catalog, TrainingSet};

/// Everything `train_catalog` needs besides the data.
pub struct TrainRequest<'a> {
    pub encoder: &'a dyn Encoder,
    /// `model.safetensors` of the encoder, hashed into the manifest (None for test encoders).
    pub encoder_weights: Option<&'a Path>,
    pub cache: &'a mut EmbeddingCache,
    pub options: FitOptions,
    /// Catalog + training files, hashed into the manifest.
    pub source_files: Vec<std::path::PathBuf>,
    pub progress: bool,
    /// The texts a fine-tuned encoder was trained on: calibration then judges only the others
    /// ([`Calibration::CrossValidationOfUnseen`]). None for the base encoder.
    pub encoder_trained_on: Option<TrainedOn>,
}

/// Trains a model on the catalog's training data (all locales together: the encoder is multilingual).
pub fn train_catalog(
    catalog: &Catalog,
    data: &TrainingSet,
    req: TrainRequest<'_>,
) -> Result<TrainedModel, NluError> {
    train_catalog_with_held_out(catalog, data, req).map(|t| t.model)
}

/// A trained model with the embeddings it was trained on and the cross-validated held-out
/// scores its calibration saw (for the studio's compare report).
pub struct TrainedWithHeldOut {
    pub model: TrainedModel,
    pub embeddings: super::encoder::Embeddings,
    /// Intent index per example (None: out of scope), in the catalog's order of names.
    pub labels: Vec<Option<usize>>,
    pub held_out: super::fit::HeldOutScores,
    /// Per example, whether the encoder never trained on it (None: every example counts).
    pub unseen: Option<Vec<bool>>,
}

impl TrainedWithHeldOut {
    /// The calibration this model was fitted with, for refitting other options on the same data.
    pub fn calibration(&self) -> Calibration<'_> {
        Calibration::cross_validation(self.unseen.as_deref())
    }
}

/// [`train_catalog`], keeping what a report needs.
pub fn train_catalog_with_held_out(
    catalog: &Catalog,
    data: &TrainingSet,
    req: TrainRequest<'_>,
) -> Result<TrainedWithHeldOut, NluError> {
    let names = catalog.names();
    let (texts, labels) = data.texts_and_labels(&names);

    let cached_before = req.cache.len();
    let t0 = Instant::now();
    let x = req.cache.embed(req.encoder, &texts, req.progress)?;
    let embed_seconds = t0.elapsed().as_secs_f64();
    let new_texts_embedded = req.cache.len() - cached_before;

    let unseen: Option<Vec<bool>> = req
        .encoder_trained_on
        .as_ref()
        .map(|trained| texts.iter().map(|t| !trained.contains(t)).collect());
    let t1 = Instant::now();
    let calibration = Calibration::cross_validation(unseen.as_deref());
    let options = req.options.for_catalog(catalog);
    let fitted = fit(&x, &labels, names.len(), calibration, &options)?;
    let fit_seconds = t1.elapsed().as_secs_f64();

    let now = chrono::Utc::now();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        version: now.format("v%Y%m%d-%H%M%S-%3f").to_string(),
        created_at: now.to_rfc3339(),
        encoder: EncoderInfo {
            name: req.encoder.name().to_string(),
            fingerprint: req.encoder.fingerprint().to_string(),
            sha256: match req.encoder_weights {
                Some(p) => file_sha256(p)?,
                None => String::new(),
            },
            kernels: req.encoder.kernels().map(|k| k.describe()),
        },
        catalog_sha256: hash_files(&req.source_files)?,
        intents: catalog
            .intents
            .iter()
            .map(|i| IntentInfo {
                name: i.name.clone(),
                handoff: i.handoff,
                threshold: i.threshold,
            })
            .collect(),
        has_out_of_scope_class: fitted.has_out_of_scope_class,
        temperature: fitted.temperature,
        thresholds: fitted.thresholds,
        options: req.options,
        metrics: TrainMetrics {
            examples: x.len(),
            out_of_scope_examples: labels.iter().filter(|l| l.is_none()).count(),
            calibration: fitted.stats,
            embed_seconds,
            fit_seconds,
            new_texts_embedded,
        },
    };
    Ok(TrainedWithHeldOut {
        model: TrainedModel {
            manifest,
            head: fitted.head,
            index: fitted.index,
        },
        embeddings: x,
        labels,
        held_out: fitted.held_out,
        unseen,
    })
}

/// SHA-256 over (path, contents) of each file, in the order given.
fn hash_files(files: &[std::path::PathBuf]) -> Result<String, NluError> {
    let mut h = Sha256::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| NluError::io(f, e))?;
        h.update(f.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}
