//! The int8 word-embedding table (`word_embeddings.q8` beside the weights): built once from the
//! safetensors file, reused while the weights are unchanged, rebuilt when they change or the file
//! is damaged, and — on the real encoder — sentence vectors within cosine 0.999 of the f32 table's.
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use madoguchi::nlu::bert::FastBert;
use madoguchi::nlu::embedding_table::{table_path, EmbeddingTable};
use madoguchi::nlu::{BertEncoder, Encoder, EncoderOptions};

use crate::util::real_encoder;

const NAME: &str = "embeddings.word_embeddings.weight";
const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Writes a `[rows, dim]` table as `model.safetensors` in `dir`; returns its values.
fn write_weights(dir: &Path, rows: usize, dim: usize, seed: usize) -> Vec<f32> {
    let values: Vec<f32> = (0..rows * dim)
        .map(|i| (((i + seed) * 7919 % 2003) as f32 - 1001.0) / 313.0)
        .collect();
    let t = Tensor::from_vec(values.clone(), (rows, dim), &Device::Cpu).expect("tensor");
    candle_core::safetensors::save(
        &std::collections::HashMap::from([(NAME.to_string(), t)]),
        dir.join("model.safetensors"),
    )
    .expect("save weights");
    values
}

fn rows(table: &EmbeddingTable, ids: &[u32]) -> Vec<f32> {
    table.lookup_rows(ids).expect("lookup")
}

fn assert_within_a_step(got: &[f32], want: &[f32], dim: usize) {
    for (g, w) in got.chunks(dim).zip(want.chunks(dim)) {
        let step = w.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a - b).abs() <= step / 2.0 + 1e-6,
                "{a} vs {b} (step {step})"
            );
        }
    }
}

#[test]
fn the_table_file_is_built_once_and_rebuilt_when_the_weights_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("model.safetensors");
    let (n, dim) = (40, 12);
    let values = write_weights(dir.path(), n, dim, 0);
    let ids: Vec<u32> = (0..n as u32).rev().collect();
    let want: Vec<f32> = ids
        .iter()
        .flat_map(|&i| values[i as usize * dim..(i as usize + 1) * dim].to_vec())
        .collect();

    let built = EmbeddingTable::open_or_build(&weights, KEY_A, NAME, n, dim).expect("build");
    let file = table_path(&weights);
    assert!(
        built.is_mapped(),
        "the table is read from {}",
        file.display()
    );
    assert_eq!(built.encoding(), "q8");
    assert_within_a_step(&rows(&built, &ids), &want, dim);
    assert_eq!(
        std::fs::metadata(&file).expect("table file").len() as usize,
        88 + n * 4 + n * dim,
        "header, one scale per row, one byte per value"
    );

    // Same weights: the file is reused as it is (its bytes are not rewritten).
    let before = std::fs::read(&file).expect("read");
    let reopened = EmbeddingTable::open_or_build(&weights, KEY_A, NAME, n, dim).expect("reopen");
    assert_eq!(rows(&reopened, &ids), rows(&built, &ids));
    assert_eq!(std::fs::read(&file).expect("read"), before);

    // Other weights (another hash): rebuilt from them.
    let other = write_weights(dir.path(), n, dim, 5);
    let rebuilt = EmbeddingTable::open_or_build(&weights, KEY_B, NAME, n, dim).expect("rebuild");
    assert_within_a_step(&rows(&rebuilt, &[3]), &other[3 * dim..4 * dim], dim);
    assert_ne!(std::fs::read(&file).expect("read"), before);

    // A truncated file (a crash while copying it in) is rebuilt, not read past its end. (The
    // table in use maps the file, which madoguchi only ever replaces by rename: let it go before
    // cutting the file in place.)
    let want = rows(&rebuilt, &ids);
    drop(rebuilt);
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
    let repaired = EmbeddingTable::open_or_build(&weights, KEY_B, NAME, n, dim).expect("repair");
    assert_eq!(rows(&repaired, &ids), want);
    assert_eq!(std::fs::read(&file).expect("read"), bytes);
}

#[test]
fn a_table_of_the_wrong_shape_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("model.safetensors");
    write_weights(dir.path(), 10, 4, 0);
    let err = EmbeddingTable::open_or_build(&weights, KEY_A, NAME, 11, 4)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains(NAME) && err.contains("[11, 4]"), "{err}");
}

/// The f32-table encoder on the same weights, tokenizer and options, for comparison.
fn f32_encoder(dir: &Path) -> BertEncoder {
    let config: Config = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).expect("config.json"),
    )
    .expect("config");
    // SAFETY: read-only mapping of the encoder weights, not modified while the test runs.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .expect("weights");
    let model = FastBert::load(vb, &config).expect("f32 model");
    let tokenizer =
        tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    BertEncoder::new(
        model,
        &config,
        tokenizer,
        EncoderOptions::default(),
        "f32".into(),
        "f32-table".into(),
    )
    .expect("encoder")
}

#[test]
fn the_int8_table_keeps_real_sentence_vectors_within_cosine_0_999() {
    let Some(dir) = real_encoder() else { return };
    let bench = crate::util::repo().join("../shared/bench/messages.txt");
    let mut texts: Vec<String> = std::fs::read_to_string(&bench)
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_else(|_| {
            eprintln!("{} is absent: the fixed sentences only", bench.display());
            Vec::new()
        });
    texts.extend(
        [
            "返金してほしい",
            "I want my money back",
            "パスワードを忘れました。リセットの方法を教えてください",
            "ok",
            "？",
            "My parcel never arrived and the tracking page has not changed for a week, what now?",
        ]
        .map(String::from),
    );
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let quantized = BertEncoder::from_dir(&dir, EncoderOptions::default()).expect("load encoder");
    assert!(
        table_path(&dir.join("model.safetensors")).is_file(),
        "the first load saves the int8 table beside the weights"
    );
    assert!(
        quantized.fingerprint().contains("-q8"),
        "the table's encoding is part of the fingerprint: {}",
        quantized.fingerprint()
    );
    let exact = f32_encoder(&dir);
    let a = quantized.embed(&texts).expect("embed int8 table");
    let b = exact.embed(&texts).expect("embed f32 table");
    let mut worst = (1.0f32, "");
    for (i, text) in texts.iter().enumerate() {
        let cosine: f32 = a.row(i).iter().zip(b.row(i)).map(|(x, y)| x * y).sum();
        if cosine < worst.0 {
            worst = (cosine, text);
        }
    }
    eprintln!(
        "{} sentences, lowest cosine {:.5} ({:?})",
        texts.len(),
        worst.0,
        worst.1
    );
    assert!(
        worst.0 >= 0.999,
        "cosine {} for {:?} is below 0.999",
        worst.0,
        worst.1
    );
}
