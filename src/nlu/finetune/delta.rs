//! A fine-tuned encoder on disk is the base encoder plus a delta: the fine-tuned layers as f32
//! safetensors under the base weights' names. Loading reads both files through one VarBuilder
//! (the delta's tensors shadow the base's), so the kernels pack the fine-tuned layers exactly as
//! they pack the base ones, int8 included. The fingerprint adds the delta's hash, so embedding
//! caches and trained heads never mix a fine-tuned encoder with its base.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;

use crate::nlu::bert::FastBert;
use crate::nlu::embedding_table::{word_embeddings_name, EmbeddingTable};
use crate::nlu::fingerprint::file_sha256;
use crate::nlu::kernels::Kernels;
use crate::nlu::tokenize::TextTokenizer;
use crate::nlu::{BertEncoder, EncoderOptions, NluError};

/// File name of the delta inside a model version directory.
pub const DELTA_FILE: &str = "encoder-delta.safetensors";

/// The files of an encoder directory.
pub struct EncoderFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

impl EncoderFiles {
    pub fn in_dir(dir: &Path) -> Result<Self, NluError> {
        let need = |file: &'static str| {
            let p = dir.join(file);
            if p.is_file() {
                Ok(p)
            } else {
                Err(NluError::MissingEncoderFile {
                    dir: dir.to_path_buf(),
                    file,
                })
            }
        };
        Ok(Self {
            config: need("config.json")?,
            weights: need("model.safetensors")?,
            tokenizer: need("tokenizer.json")?,
        })
    }

    pub fn config(&self) -> Result<Config, NluError> {
        let text =
            std::fs::read_to_string(&self.config).map_err(|e| NluError::io(&self.config, e))?;
        serde_json::from_str(&text).map_err(|e| NluError::bad_file(&self.config, e))
    }

    /// The base weights, memory-mapped.
    pub fn base_weights(&self) -> Result<VarBuilder<'static>, NluError> {
        // SAFETY: the weights file is memory-mapped read-only; madoguchi never writes it while loaded.
        Ok(unsafe {
            VarBuilder::from_mmaped_safetensors(&[&self.weights], DType::F32, &Device::Cpu)?
        })
    }
}

/// Loads the encoder in `dir` with the fine-tuned layers of `delta` in place of the base ones.
pub fn load_finetuned(
    dir: &Path,
    delta: &Path,
    options: EncoderOptions,
) -> Result<BertEncoder, NluError> {
    let files = EncoderFiles::in_dir(dir)?;
    let config = files.config()?;
    let tokenizer = TextTokenizer::from_file(&files.tokenizer)?;
    if !delta.is_file() {
        return Err(NluError::bad_file(
            delta,
            "the fine-tuned layers are missing",
        ));
    }
    // SAFETY: both files are memory-mapped read-only and never written while loaded.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[&files.weights, delta], DType::F32, &Device::Cpu)?
    };
    let kernels = Kernels::select(options.precision, options.cpu);
    let base_sha = file_sha256(&files.weights)?;
    let word = EmbeddingTable::open_or_build(
        &files.weights,
        &base_sha,
        &word_embeddings_name(&vb),
        config.vocab_size,
        config.hidden_size,
    )?;
    let fingerprint = format!(
        "{}-{}-{}-ft{}",
        &base_sha[..16],
        &file_sha256(&files.tokenizer)?[..8],
        word.encoding(),
        &file_sha256(delta)?[..12]
    );
    let model = FastBert::load_with_words(vb, &config, word, kernels)?;
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| format!("{}+finetuned", n.to_string_lossy()),
    );
    BertEncoder::new(model, &config, tokenizer, options, name, fingerprint)
}

/// Where `train --finetune` leaves a new delta until the version that uses it is saved.
pub const STAGING_DIR: &str = ".deltas";

/// The delta tag (`ft` + 12 hex digits of its SHA-256) in a fine-tuned encoder's fingerprint.
pub fn delta_tag(fingerprint: &str) -> Option<&str> {
    fingerprint
        .split('-')
        .find_map(|part| part.strip_prefix("ft"))
        .filter(|t| t.len() == 12 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Writes `layers`, with the texts they were trained on, into `models_dir`'s staging area, named
/// by content; returns the file.
pub fn stage(
    layers: &super::layers::TrainableLayers,
    trained_on: &TrainedOn,
    models_dir: &Path,
) -> Result<PathBuf, NluError> {
    let dir = models_dir.join(STAGING_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| NluError::io(&dir, e))?;
    let tmp = dir.join(".writing.safetensors");
    layers.save_with_metadata(&tmp, trained_on.metadata())?;
    let sha = crate::nlu::fingerprint::sha256_of(&tmp)?;
    let path = dir.join(format!("{}.safetensors", &sha[..12]));
    std::fs::rename(&tmp, &path).map_err(|e| NluError::io(&path, e))?;
    Ok(path)
}

/// Gives the version being written in `version_dir` the delta its encoder `fingerprint` names
/// (nothing for a base encoder): found in the staging area or in another version of
/// `models_dir` (a head-only retrain on top of a fine-tuned encoder reuses its delta).
pub fn attach(fingerprint: &str, models_dir: &Path, version_dir: &Path) -> Result<(), NluError> {
    let Some(delta) = find(fingerprint, models_dir)? else {
        return Ok(());
    };
    let to = version_dir.join(DELTA_FILE);
    std::fs::copy(&delta, &to).map_err(|e| NluError::io(&to, e))?;
    Ok(())
}

/// Makes the delta the encoder `fingerprint` names (nothing for a base encoder) findable under
/// `to_models` as well, so versions saved there (a benchmark's scratch directory) get it.
pub fn share(fingerprint: &str, from_models: &Path, to_models: &Path) -> Result<(), NluError> {
    let (Some(tag), Some(delta)) = (delta_tag(fingerprint), find(fingerprint, from_models)?) else {
        return Ok(());
    };
    let dir = to_models.join(STAGING_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| NluError::io(&dir, e))?;
    let to = dir.join(format!("{tag}.safetensors"));
    std::fs::hard_link(&delta, &to)
        .or_else(|_| std::fs::copy(&delta, &to).map(|_| ()))
        .map_err(|e| NluError::io(&to, e))
}

/// The delta file of the encoder `fingerprint` names (None for a base encoder): in the staging
/// area or in a version of `models_dir`, newest version first.
pub fn find(fingerprint: &str, models_dir: &Path) -> Result<Option<PathBuf>, NluError> {
    let Some(tag) = delta_tag(fingerprint) else {
        return Ok(None);
    };
    let staged = models_dir
        .join(STAGING_DIR)
        .join(format!("{tag}.safetensors"));
    let mut candidates = vec![staged];
    if let Ok(entries) = std::fs::read_dir(models_dir) {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        candidates.extend(dirs.into_iter().rev().map(|d| d.join(DELTA_FILE)));
    }
    for c in candidates {
        if c.is_file() && crate::nlu::fingerprint::sha256_of(&c)?.starts_with(tag) {
            return Ok(Some(c));
        }
    }
    Err(NluError::Training(format!(
        "the encoder is fine-tuned (delta ft{tag}) but no version under {} holds its layers",
        models_dir.display()
    )))
}

/// The texts a delta's layers were trained on, as short hashes (kept in the delta's header, so
/// they travel with it): a head calibrated on the vectors of these texts would trust the
/// fine-tuned encoder more than a customer's new message deserves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainedOn(std::collections::HashSet<String>);

/// The header key of [`TrainedOn`]: space-separated hashes.
const TRAINED_ON_KEY: &str = "madoguchi.trained_on";

impl TrainedOn {
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        Self(texts.into_iter().map(text_key).collect())
    }

    pub fn contains(&self, text: &str) -> bool {
        self.0.contains(&text_key(text))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn metadata(&self) -> std::collections::HashMap<String, String> {
        let mut keys: Vec<&str> = self.0.iter().map(String::as_str).collect();
        keys.sort_unstable();
        [(TRAINED_ON_KEY.to_owned(), keys.join(" "))].into()
    }

    /// What the delta at `path` was trained on; None for a delta written without the list.
    pub fn read(path: &Path) -> Result<Option<Self>, NluError> {
        let bytes = std::fs::read(path).map_err(|e| NluError::io(path, e))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
            NluError::Training(format!("{} is not a safetensors file: {e}", path.display()))
        })?;
        Ok(header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(TRAINED_ON_KEY))
            .map(|keys| Self(keys.split_whitespace().map(str::to_owned).collect())))
    }

    /// What the encoder `fingerprint` names was fine-tuned on (None: a base encoder, or a delta
    /// without the list).
    pub fn of_encoder(fingerprint: &str, models_dir: &Path) -> Result<Option<Self>, NluError> {
        match find(fingerprint, models_dir)? {
            Some(delta) => Self::read(&delta),
            None => Ok(None),
        }
    }
}

/// 16 hex digits of the text's SHA-256: short, and no text is kept in the model.
fn text_key(text: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_on_travels_in_the_delta_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("delta.safetensors");
        let trained = TrainedOn::from_texts(["返品したい", "where is my order", "refund"]);
        let t = candle_core::Tensor::zeros((2, 2), DType::F32, &Device::Cpu).expect("tensor");
        safetensors::serialize_to_file([("w", t)], Some(trained.metadata()), &path).expect("write");
        let read = TrainedOn::read(&path).expect("read").expect("a list");
        assert_eq!(read, trained);
        assert!(read.contains("返品したい") && read.contains("refund"));
        assert!(!read.contains("refund ") && !read.contains("a new message"));

        let bare = dir.path().join("bare.safetensors");
        let t = candle_core::Tensor::zeros((2, 2), DType::F32, &Device::Cpu).expect("tensor");
        candle_core::safetensors::save(&[("w".to_owned(), t)].into(), &bare).expect("write");
        assert_eq!(TrainedOn::read(&bare).expect("read"), None);
        std::fs::write(&bare, b"not safetensors").expect("write");
        assert!(TrainedOn::read(&bare).is_err());
    }
}
