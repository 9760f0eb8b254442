//! The encoder's tokenizer: `tokenizer.json` loaded with the compact Unigram model when it holds
//! one (multilingual-e5 does: 21 MiB of arrays instead of ~270 MiB resident), else with the
//! crate's own model (the tiny WordLevel tokenizers of the tests, BPE, byte-fallback Unigram).
//! Either way the crate's normalizer, pre-tokenizer, post-processor and truncation run,
//! configured in one place.
use std::path::Path;

use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use super::error::NluError;
use super::unigram::CompactTokenizer;

/// A loaded `tokenizer.json`, configured as the encoder needs it.
pub enum TextTokenizer {
    /// The crate's pipeline with [`super::unigram::CompactUnigram`] as its model.
    Compact(Box<CompactTokenizer>),
    /// The crate's pipeline as the crate loads it.
    Stock(Box<Tokenizer>),
}

/// Just enough of `tokenizer.json` to choose the model (the vocabulary is skipped, not kept).
#[derive(Deserialize)]
struct Peek {
    model: PeekModel,
}

#[derive(Deserialize)]
struct PeekModel {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    byte_fallback: bool,
}

impl TextTokenizer {
    /// Loads `path`: compact when its model is a Unigram without byte fallback.
    pub fn from_file(path: &Path) -> Result<Self, NluError> {
        let json = std::fs::read_to_string(path).map_err(|e| NluError::io(path, e))?;
        let peek: Peek = serde_json::from_str(&json).map_err(|e| NluError::bad_file(path, e))?;
        if peek.model.kind.as_deref() == Some("Unigram") && !peek.model.byte_fallback {
            let tokenizer: CompactTokenizer =
                serde_json::from_str(&json).map_err(|e| NluError::bad_file(path, e))?;
            Ok(Self::Compact(Box::new(tokenizer)))
        } else {
            let tokenizer: Tokenizer = json.parse().map_err(|e| NluError::bad_file(path, e))?;
            Ok(Self::Stock(Box::new(tokenizer)))
        }
    }

    /// Truncates to `max_tokens`, never pads, and tokenises a customer's "</s>" as characters.
    pub fn configure(&mut self, max_tokens: usize) -> Result<(), NluError> {
        let truncation = Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        });
        let result = match self {
            Self::Compact(t) => configure(&mut **t, truncation),
            Self::Stock(t) => configure(&mut ***t, truncation),
        };
        result.map_err(|e| NluError::Tokenizer(e.to_string()))
    }

    /// Token ids of one input, special tokens included. (One at a time on the caller's thread:
    /// the crate's `encode_batch` would wake rayon's threads, which compete with the encoder's
    /// own pool and the server's.)
    pub fn ids_of(&self, input: String) -> Result<Vec<u32>, NluError> {
        let encoding = match self {
            Self::Compact(t) => t.encode(input, true),
            Self::Stock(t) => t.encode(input, true),
        }
        .map_err(|e| NluError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Whether the compact Unigram model is in use.
    pub fn is_compact(&self) -> bool {
        matches!(self, Self::Compact(_))
    }
}

impl From<Tokenizer> for TextTokenizer {
    fn from(tokenizer: Tokenizer) -> Self {
        Self::Stock(Box::new(tokenizer))
    }
}

fn configure<M, N, PT, PP, D>(
    tokenizer: &mut tokenizers::TokenizerImpl<M, N, PT, PP, D>,
    truncation: Option<TruncationParams>,
) -> tokenizers::Result<()>
where
    M: tokenizers::Model,
    N: tokenizers::Normalizer,
    PT: tokenizers::PreTokenizer,
    PP: tokenizers::PostProcessor,
    D: tokenizers::Decoder,
{
    tokenizer.with_truncation(truncation)?;
    tokenizer.with_padding(None);
    tokenizer.set_encode_special_tokens(true);
    Ok(())
}
