//! [`ModelLoader`]: turns a model version (and an optional answer threshold chosen at publishing)
//! into a ready [`Classifier`], sharing one encoder between every version it loads, and remembers
//! which version is wanted so that the inference thread loads that one again after a failure.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::classifier::Classifier;
use super::encoder::Encoder;
use super::error::NluError;
use super::model::TrainedModel;
use super::queue::{ClassifyBackend, Loader};
use super::versions::{check_version_name, current_version};

/// Which version to serve, and with which answer threshold (None: the trained one).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    pub version: String,
    pub threshold: Option<f32>,
}

/// Builds the encoder the first time a model is loaded.
pub type EncoderFactory = Box<dyn Fn() -> Result<Arc<dyn Encoder>, String> + Send + Sync>;

/// Loads model versions from one `models/` directory with one shared encoder.
pub struct ModelLoader {
    models_dir: PathBuf,
    make_encoder: EncoderFactory,
    encoder: Mutex<Option<Arc<dyn Encoder>>>,
    /// What the inference thread loads (None: `models/current`).
    wanted: Mutex<Option<ModelChoice>>,
}

impl ModelLoader {
    pub fn new(models_dir: PathBuf, make_encoder: EncoderFactory) -> ModelLoader {
        ModelLoader {
            models_dir,
            make_encoder,
            encoder: Mutex::new(None),
            wanted: Mutex::new(None),
        }
    }

    pub fn models_dir(&self) -> &std::path::Path {
        &self.models_dir
    }

    /// The shared encoder (built on first use; the lock is held while building so it is built
    /// once).
    pub fn encoder(&self) -> Result<Arc<dyn Encoder>, String> {
        let mut slot = self.encoder.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(encoder) = slot.as_ref() {
            return Ok(encoder.clone());
        }
        let encoder = (self.make_encoder)()?;
        *slot = Some(encoder.clone());
        Ok(encoder)
    }

    /// Loads `choice` as a classifier (slow: run it off the async threads). Every check a model
    /// must pass happens here, so a version that loads here will serve.
    pub fn load(&self, choice: &ModelChoice) -> Result<Classifier, NluError> {
        check_version_name(&choice.version)?;
        let dir = self.models_dir.join(&choice.version);
        let mut model = TrainedModel::load(&dir)?;
        if let Some(t) = choice.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(NluError::Training(format!(
                    "threshold {t} is not between 0 and 1"
                )));
            }
            model.manifest.thresholds.answer = t;
        }
        let encoder = self.encoder().map_err(NluError::Training)?;
        Classifier::new(encoder, model, &dir)
    }

    /// What the inference thread loads after a failure (and first).
    pub fn wanted(&self) -> Option<ModelChoice> {
        self.wanted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_wanted(&self, choice: ModelChoice) {
        *self.wanted.lock().unwrap_or_else(|p| p.into_inner()) = Some(choice);
    }

    /// The wanted version, or the last trained one.
    pub fn wanted_or_current(&self) -> Result<ModelChoice, NluError> {
        if let Some(choice) = self.wanted() {
            return Ok(choice);
        }
        let version =
            current_version(&self.models_dir).ok_or_else(|| NluError::NoTrainedModel {
                dir: self.models_dir.clone(),
            })?;
        Ok(ModelChoice {
            version,
            threshold: None,
        })
    }

    /// The inference thread's loader: loads the wanted version (or the last trained one).
    pub fn loader(self: &Arc<Self>) -> Loader {
        let this = self.clone();
        Box::new(move || {
            let load = || -> Result<Box<dyn ClassifyBackend>, NluError> {
                let choice = this.wanted_or_current()?;
                Ok(Box::new(this.load(&choice)?))
            };
            load().map_err(|e| e.to_string())
        })
    }
}
