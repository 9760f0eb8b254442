//! The classifier the rest of the bot uses: an encoder plus a trained model that belong together.
use std::sync::Arc;

use super::encoder::Encoder;
use super::error::NluError;
use super::model::{Classification, TrainedModel};

pub struct Classifier {
    encoder: Arc<dyn Encoder>,
    model: TrainedModel,
}

impl Classifier {
    /// Pairs `encoder` with `model`, refusing a model trained on another encoder (its vectors would
    /// be meaningless to the head); the precision of the kernels may differ.
    pub fn new(
        encoder: Arc<dyn Encoder>,
        model: TrainedModel,
        model_dir: &std::path::Path,
    ) -> Result<Self, NluError> {
        let expected = &model.manifest.encoder.fingerprint;
        if !super::encoder::same_weights(expected, encoder.fingerprint()) {
            return Err(NluError::EncoderMismatch {
                dir: model_dir.to_path_buf(),
                expected: expected.clone(),
                actual: encoder.fingerprint().to_string(),
            });
        }
        Ok(Self { encoder, model })
    }

    pub fn model(&self) -> &TrainedModel {
        &self.model
    }

    pub fn encoder(&self) -> &Arc<dyn Encoder> {
        &self.encoder
    }

    /// Classifies a batch of messages (one forward pass per batch of similar lengths).
    pub fn classify(&self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        let embeddings = self.encoder.embed(texts)?;
        Ok(texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.model.classify(t, embeddings.row(i)))
            .collect())
    }
}
