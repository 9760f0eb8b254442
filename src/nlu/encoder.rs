//! Sentence encoders: text in, one L2-normalised vector per text out.
//!
//! [`Encoder`] is the seam between the classifier and the model (as `Backend` is in
//! text-embeddings-inference): [`BertEncoder`] runs a BERT-family model with candle; unit tests build a
//! tiny random BERT through the same type.
use std::path::Path;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;

use super::bert::FastBert;
use super::embedding_table::{word_embeddings_name, EmbeddingTable};
use super::error::NluError;
use super::fingerprint::file_sha256;
use super::kernels::dispatch::cpu_flags;
use super::kernels::{CpuLimit, Kernels, Precision, PrecisionChoice};
use super::tokenize::TextTokenizer;

/// Row-major matrix of embeddings: `len()` rows of `dim` floats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embeddings {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Embeddings {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(
            row.len(),
            self.dim,
            "this is a bug: embedding width mismatch"
        );
        self.data.extend_from_slice(row);
    }
}

/// Anything that turns texts into sentence vectors.
pub trait Encoder: Send + Sync {
    /// Identifies weights, tokenizer and options: equal fingerprints give equal vectors.
    fn fingerprint(&self) -> &str;
    /// Human-readable name (directory or hub id).
    fn name(&self) -> &str;
    fn dim(&self) -> usize;
    /// Embeds `texts` (the encoder adds its own prefix), one L2-normalised row per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Embeddings, NluError>;
    /// [`Encoder::embed`] one forward pass at a time: `on_pass` gets the rows of each pass, in
    /// order, as soon as they are ready, so the callers of the first texts of a batch need not
    /// wait for the last pass. Encoders that do not cut batches hand over all rows at once.
    fn embed_each_pass(
        &self,
        texts: &[&str],
        on_pass: &mut dyn FnMut(&Embeddings) -> Result<(), NluError>,
    ) -> Result<(), NluError> {
        on_pass(&self.embed(texts)?)
    }
    /// Number of tokens the model sees for `text` (prefix and special tokens included).
    fn token_count(&self, text: &str) -> Result<usize, NluError>;
    /// The compute kernels (precision, instruction set), where the encoder has a choice.
    fn kernels(&self) -> Option<Kernels> {
        None
    }
    /// No more work is in sight: threads kept ready for the next text may sleep.
    fn rest(&self) {}
}

/// Whether two encoder fingerprints name the same weights, tokenizer and options, whatever the
/// precision of the kernels: a head trained on f32 embeddings serves int8 ones (their cosine
/// similarity is ≥ 0.999) and vice versa, while embedding caches stay per precision.
pub fn same_weights(a: &str, b: &str) -> bool {
    let strip = |f: &str| {
        let int8 = format!("-{}", Precision::Int8);
        f.strip_suffix(int8.as_str()).unwrap_or(f).to_string()
    };
    strip(a) == strip(b)
}

/// Version of the forward-pass implementation, part of the fingerprint: a change that alters the
/// numbers (e.g. another GELU approximation) must bump it so cached embeddings are not reused.
/// Kernels other than f32 add their precision (`-int8`), so each precision has its own cache.
/// (The fused attention and layer norm of the f32 path reorder sums only: differences ≤ 1e-5,
/// not a new engine.)
const ENGINE: &str = "fb1";

/// Default for [`EncoderOptions::batch_size`].
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Default for [`EncoderOptions::batch_tokens`]: a pass whose feed-forward activations (tokens ×
/// 1536 floats) fit the core's L2 cache is fastest — measured on a 1 MB-L2 EPYC, 128–160 tokens
/// gave 170 messages/s, 200 tokens 132.
pub const DEFAULT_BATCH_TOKENS: usize = 128;

/// Options for a [`BertEncoder`].
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Prepended to every text; e5 models expect "query: ".
    pub prefix: String,
    /// Longer inputs are truncated (the model's position table bounds it).
    pub max_tokens: usize,
    /// At most this many texts per forward pass.
    pub batch_size: usize,
    /// At most this many tokens per forward pass (texts are packed without padding; a text
    /// longer than this goes alone). What keeps a pass fast is its activations staying in cache,
    /// so the budget is in tokens: many short messages or a few long ones.
    pub batch_tokens: usize,
    /// Precision of the transformer layers (`auto`: the fastest that keeps accuracy parity on
    /// this CPU).
    pub precision: PrecisionChoice,
    /// Cap on the instruction set the kernels use (to run the fallback on a newer CPU).
    pub cpu: CpuLimit,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            prefix: "query: ".into(),
            max_tokens: 512,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_tokens: DEFAULT_BATCH_TOKENS,
            precision: PrecisionChoice::Auto,
            cpu: CpuLimit::Auto,
        }
    }
}

/// A BERT encoder run by candle, with attention-masked mean pooling and L2 normalisation.
pub struct BertEncoder {
    model: FastBert,
    tokenizer: TextTokenizer,
    options: EncoderOptions,
    dim: usize,
    pad_id: u32,
    name: String,
    fingerprint: String,
}

impl BertEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn from_dir(dir: &Path, options: EncoderOptions) -> Result<Self, NluError> {
        let config_path = require(dir, "config.json")?;
        let weights = require(dir, "model.safetensors")?;
        let tokenizer_path = require(dir, "tokenizer.json")?;
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| NluError::io(&config_path, e))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| NluError::bad_file(&config_path, e))?;
        let tokenizer = TextTokenizer::from_file(&tokenizer_path)?;
        let device = Device::Cpu;
        // SAFETY: the weights file is memory-mapped read-only; madoguchi never writes it while loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device)? };
        let kernels = Kernels::select(options.precision, options.cpu);
        let weights_sha256 = file_sha256(&weights)?;
        let word = EmbeddingTable::open_or_build(
            &weights,
            &weights_sha256,
            &word_embeddings_name(&vb),
            config.vocab_size,
            config.hidden_size,
        )?;
        let fingerprint = format!(
            "{}-{}-{}",
            &weights_sha256[..16],
            &file_sha256(&tokenizer_path)?[..8],
            word.encoding()
        );
        let model = FastBert::load_with_words(vb, &config, word, kernels)?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self::new(model, &config, tokenizer, options, name, fingerprint)
    }

    /// Builds an encoder from a loaded model and its tokenizer.
    pub fn new(
        model: FastBert,
        config: &Config,
        tokenizer: impl Into<TextTokenizer>,
        options: EncoderOptions,
        name: String,
        fingerprint: String,
    ) -> Result<Self, NluError> {
        let max_tokens = options.max_tokens.min(config.max_position_embeddings);
        let mut tokenizer = tokenizer.into();
        // Also: a customer typing "</s>" gets the characters tokenised, not a special token.
        tokenizer.configure(max_tokens)?;
        tracing::info!(
            encoder = %name,
            kernels = %model.kernels().describe(),
            cpu = %cpu_flags(),
            "encoder loaded"
        );
        let precision = match model.kernels().precision {
            Precision::F32 => String::new(),
            other => format!("-{other}"),
        };
        let fingerprint = format!(
            "{fingerprint}-p{}-t{max_tokens}-{ENGINE}{precision}",
            short_hash(&options.prefix)
        );
        Ok(Self {
            model,
            tokenizer,
            options: EncoderOptions {
                max_tokens,
                ..options
            },
            dim: config.hidden_size,
            pad_id: config.pad_token_id as u32,
            name,
            fingerprint,
        })
    }

    /// Token ids of each text, tokenised across the kernels' pool (a batch of 32 messages is ~3 ms
    /// of tokenising on one core).
    fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, NluError> {
        let input = |i: usize| format!("{}{}", self.options.prefix, texts[i]);
        if texts.len() < 2 {
            return (0..texts.len())
                .map(|i| self.tokenizer.ids_of(input(i)))
                .collect();
        }
        let slots: Vec<OnceLock<Result<Vec<u32>, NluError>>> =
            texts.iter().map(|_| OnceLock::new()).collect();
        self.model.pool().run(texts.len(), &|i| {
            let _ = slots[i].set(self.tokenizer.ids_of(input(i)));
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(|| Err(NluError::Tokenizer("a text was not tokenised".into())))
            })
            .collect()
    }

    /// One forward pass over texts packed one after the other (no padding), then each text's
    /// mean over its tokens, normalised.
    fn forward(&self, batch: &[&Vec<u32>]) -> Result<Vec<Vec<f32>>, NluError> {
        let ids: Vec<u32> = batch.iter().flat_map(|seq| seq.iter().copied()).collect();
        let lengths: Vec<usize> = batch.iter().map(|seq| seq.len()).collect();
        let hidden = self.model.forward_packed(&ids, &lengths)?;
        Ok(mean_pool_packed_l2(&hidden, &lengths, self.dim))
    }
}

/// [`masked_mean_l2`] on packed rows: `hidden` holds `lengths[0]` rows of `dim` floats for the
/// first text, then the second's, …
fn mean_pool_packed_l2(hidden: &[f32], lengths: &[usize], dim: usize) -> Vec<Vec<f32>> {
    let mut start = 0;
    lengths
        .iter()
        .map(|&len| {
            let rows = &hidden[start * dim..(start + len) * dim];
            start += len;
            let mut mean = vec![0f32; dim];
            for row in rows.chunks_exact(dim) {
                mean.iter_mut().zip(row).for_each(|(acc, v)| *acc += v);
            }
            let count = len.max(1) as f32;
            mean.iter_mut().for_each(|v| *v /= count);
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            mean.iter_mut().for_each(|v| *v /= norm);
            mean
        })
        .collect()
}

/// Mean over the tokens the mask marks real (padding never counts), then L2 normalisation.
pub fn masked_mean_l2(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)
}

impl Encoder for BertEncoder {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Embeddings, NluError> {
        let mut out = Embeddings::new(self.dim);
        self.embed_each_pass(texts, &mut |pass| {
            (0..pass.len()).for_each(|i| out.push(pass.row(i)));
            Ok(())
        })?;
        Ok(out)
    }

    fn embed_each_pass(
        &self,
        texts: &[&str],
        on_pass: &mut dyn FnMut(&Embeddings) -> Result<(), NluError>,
    ) -> Result<(), NluError> {
        let ids = self.token_ids(texts)?;
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let passes = forward_passes(&lengths, self.options.batch_size, self.options.batch_tokens);
        for range in passes {
            let batch: Vec<&Vec<u32>> = ids[range].iter().collect();
            let mut rows = Embeddings::new(self.dim);
            for row in self.forward(&batch)? {
                rows.push(&row);
            }
            on_pass(&rows)?;
        }
        Ok(())
    }

    fn token_count(&self, text: &str) -> Result<usize, NluError> {
        Ok(self.token_ids(&[text])?.first().map_or(0, Vec::len))
    }

    fn kernels(&self) -> Option<Kernels> {
        Some(self.model.kernels())
    }

    fn rest(&self) {
        self.model.pool().rest();
    }
}

/// Splits texts of `lengths` (in tokens) into consecutive forward passes of at most `max_texts`
/// texts and `max_tokens` tokens (texts are packed, no padding), at least one text each.
fn forward_passes(
    lengths: &[usize],
    max_texts: usize,
    max_tokens: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut passes = Vec::new();
    let (mut start, mut tokens) = (0, 0);
    for (i, &len) in lengths.iter().enumerate() {
        let count = i - start + 1;
        tokens += len;
        if count > 1 && (count > max_texts || tokens > max_tokens) {
            passes.push(start..i);
            (start, tokens) = (i, len);
        }
    }
    if start < lengths.len() {
        passes.push(start..lengths.len());
    }
    passes
}

/// What fine-tuning ([`super::finetune`]) needs of an encoder: its token ids and its layers.
impl BertEncoder {
    /// The token ids the model sees for each text (prefix, special tokens, truncation included).
    pub fn tokens(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, NluError> {
        self.token_ids(texts)
    }

    /// The transformer.
    pub fn bert(&self) -> &FastBert {
        &self.model
    }

    /// The padding token id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
}

fn require(dir: &Path, file: &'static str) -> Result<std::path::PathBuf, NluError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(NluError::MissingEncoderFile {
            dir: dir.to_path_buf(),
            file,
        })
    }
}

fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..4])
}

#[cfg(test)]
mod tests {
    use super::{forward_passes, masked_mean_l2, mean_pool_packed_l2, same_weights};
    use candle_core::{Device, Tensor};

    #[test]
    fn packed_pooling_matches_the_tensor_pooling_of_padded_rows() {
        let (b, len, dim) = (3, 4, 5);
        let hidden: Vec<f32> = (0..b * len * dim)
            .map(|i| ((i * 7919) % 23) as f32 / 7.0 - 1.5)
            .collect();
        // Texts of 2, 1 and 4 tokens, padded to 4.
        let mask: Vec<u32> = vec![1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1];
        let packed: Vec<f32> = hidden
            .chunks_exact(dim)
            .zip(&mask)
            .filter(|(_, &m)| m != 0)
            .flat_map(|(row, _)| row.iter().copied())
            .collect();
        let got = mean_pool_packed_l2(&packed, &[2, 1, 4], dim);
        let h = Tensor::from_vec(hidden, (b, len, dim), &Device::Cpu).expect("tensor");
        let m = Tensor::from_vec(mask, (b, len), &Device::Cpu).expect("tensor");
        let want: Vec<Vec<f32>> = masked_mean_l2(&h, &m)
            .and_then(|t| t.to_vec2())
            .expect("pooling");
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            for (a, b) in g.iter().zip(w) {
                assert!((a - b).abs() < 1e-6, "{g:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn a_precision_suffix_does_not_change_the_weights() {
        assert!(same_weights(
            "ab12-cd-p1-t512-fb1",
            "ab12-cd-p1-t512-fb1-int8"
        ));
        assert!(same_weights(
            "ab12-cd-p1-t512-fb1-int8",
            "ab12-cd-p1-t512-fb1"
        ));
        assert!(!same_weights(
            "ab12-cd-p1-t512-fb1",
            "ff12-cd-p1-t512-fb1-int8"
        ));
        assert!(!same_weights("ab12-cd-p1-t512-fb1", "ab12-cd-p1-t256-fb1"));
    }

    #[test]
    fn passes_respect_the_text_and_token_budgets() {
        // Six 24-token texts fit 160 tokens; the seventh would make 7 × 24 = 168.
        let lengths = [24; 8];
        assert_eq!(forward_passes(&lengths, 32, 160), [0..6, 6..8]);
        assert_eq!(forward_passes(&lengths, 4, 160), [0..4, 4..8]);
        // Tokens count, not widths: no padding (10 + 10 + 10 + 50 = 80, + 90 = 170).
        assert_eq!(
            forward_passes(&[10, 10, 10, 50, 90, 60], 32, 160),
            [0..4, 4..6]
        );
        // A text over the budget still goes, alone; no text is dropped.
        assert_eq!(forward_passes(&[5, 400], 32, 160), [0..1, 1..2]);
        assert_eq!(
            forward_passes(&[], 32, 160),
            Vec::<std::ops::Range<usize>>::new()
        );
        assert_eq!(forward_passes(&[3, 3], 0, 0), [0..1, 1..2]);
    }
}
