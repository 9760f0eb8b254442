//! The classifier the rest of the bot uses: an encoder plus a trained model that belong together.
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

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
        let mut out = Vec::with_capacity(texts.len());
        self.classify_each_pass(texts, &mut |c| out.push(c))?;
        Ok(out)
    }

    /// [`Classifier::classify`], handing each result to `on_result` in order as soon as its
    /// forward pass is done.
    pub fn classify_each_pass(
        &self,
        texts: &[&str],
        on_result: &mut dyn FnMut(Classification),
    ) -> Result<(), NluError> {
        // Half-width katakana with sound marks ("ｸｰﾎﾟﾝ") survive the tokenizer's own
        // normalization as other pieces than "クーポン": composed first, they read the same.
        // The classification keeps the customer's own text.
        let composed: Vec<String> = texts.iter().map(|t| t.nfkc().collect()).collect();
        let composed: Vec<&str> = composed.iter().map(String::as_str).collect();
        let mut done = 0;
        self.encoder.embed_each_pass(&composed, &mut |pass| {
            let pass_texts = texts
                .get(done..done + pass.len())
                .ok_or(NluError::Bug("the encoder returned more rows than texts"))?;
            done += pass.len();
            self.model
                .classify_rows(pass_texts, pass)
                .into_iter()
                .for_each(&mut *on_result);
            Ok(())
        })
    }
}
