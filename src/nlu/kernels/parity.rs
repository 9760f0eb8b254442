//! Whole-encoder checks of every kernel path this CPU can run: the f32 paths against
//! candle-transformers' BERT, the int8 paths against each other (bit-identical by design) and
//! against f32 (cosine ≥ 0.999 per sentence), on a tiny random BERT and on the real encoder when
//! `models/encoder` is provisioned.
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};

use super::dispatch::{CpuLimit, Isa, Kernels, Precision, PrecisionChoice};
use crate::nlu::bert::FastBert;
use crate::nlu::encoder::{masked_mean_l2, BertEncoder, EncoderOptions};
use crate::nlu::Encoder;

fn tiny_config() -> Config {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 50, "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 384, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 1, "model_type": "bert"
    }))
    .expect("config")
}

fn paths(precision: Precision) -> Vec<Kernels> {
    [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni]
        .into_iter()
        .filter(|&isa| isa <= Isa::detect())
        .map(|isa| Kernels::select(PrecisionChoice::Fixed(precision), CpuLimit::AtMost(isa)))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn tiny_bert_every_path_matches_the_reference() {
    let config = tiny_config();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let reference = BertModel::load(vb.clone(), &config).expect("reference bert");
    let cpu = &Device::Cpu;
    let ids: Vec<u32> = (0..3 * 20).map(|i| (i * 7 % 48 + 2) as u32).collect();
    let ids = Tensor::from_vec(ids, (3, 20), cpu).expect("ids");
    let mut mask = vec![1u32; 60];
    mask[14..20].fill(0);
    mask[45..60].fill(0);
    let mask = Tensor::from_vec(mask, (3, 20), cpu).expect("mask");
    let want = reference
        .forward(&ids, &ids.zeros_like().expect("zeros"), Some(&mask))
        .expect("forward");
    let pooled = |h: &Tensor| -> Vec<Vec<f32>> {
        masked_mean_l2(h, &mask)
            .expect("pool")
            .to_vec2()
            .expect("vec")
    };
    let want_pooled = pooled(&want);
    let want: Vec<f32> = want.flatten_all().expect("flat").to_vec1().expect("vec");
    for kernels in paths(Precision::F32) {
        let fast = FastBert::load_with(vb.clone(), &config, kernels).expect("fast bert");
        let got: Vec<f32> = fast
            .forward(&ids, &mask)
            .expect("forward")
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("vec");
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "{}: max difference {diff}", kernels.describe());
    }
    let mut first: Option<Vec<f32>> = None;
    for kernels in paths(Precision::Int8) {
        let fast = FastBert::load_with(vb.clone(), &config, kernels).expect("fast bert");
        let hidden = fast.forward(&ids, &mask).expect("forward");
        for (g, w) in pooled(&hidden).iter().zip(&want_pooled) {
            let c = cosine(g, w);
            assert!(c >= 0.999, "{}: cosine {c}", kernels.describe());
        }
        let got: Vec<f32> = hidden.flatten_all().expect("flat").to_vec1().expect("vec");
        match &first {
            None => first = Some(got),
            Some(f) => assert!(
                f == &got,
                "{} differs from the scalar int8 path",
                kernels.describe()
            ),
        }
    }
}

/// Customer messages in both locales; the bench messages too when present.
fn messages() -> Vec<String> {
    let mut out: Vec<String> = [
        "注文した商品がまだ届きません。いつ届きますか？",
        "返品したいのですが、どうすればいいですか",
        "パスワードを忘れました",
        "担当者と話したい！！",
        "My order still hasn't arrived. When will it be delivered?",
        "how do I get a refund for a broken kettle",
        "I was charged twice for the same order, please fix this now",
        "cancel my subscription",
        "hi",
        "Can I change the delivery address after ordering? It's for a gift and the current one is wrong.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bench =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/messages.txt");
    if let Ok(text) = std::fs::read_to_string(bench) {
        out.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .take(120)
                .map(String::from),
        );
    }
    out
}

#[test]
fn real_encoder_int8_embeddings_match_f32() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate::nlu::source::DEFAULT_ENCODER_DIR);
    if !dir.join("model.safetensors").is_file() {
        eprintln!(
            "skipped: no encoder in {} (run `make model`)",
            dir.display()
        );
        return;
    }
    let load = |precision: Precision, isa: Isa| {
        let options = EncoderOptions {
            precision: PrecisionChoice::Fixed(precision),
            cpu: CpuLimit::AtMost(isa),
            ..Default::default()
        };
        BertEncoder::from_dir(&dir, options).expect("load encoder")
    };
    let messages = messages();
    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    let reference = load(Precision::F32, Isa::detect())
        .embed(&texts)
        .expect("embed f32");
    let mut first = None;
    for isa in [Isa::Avx2, Isa::Avx512Vnni]
        .into_iter()
        .filter(|&i| i <= Isa::detect())
    {
        let encoder = load(Precision::Int8, isa);
        let got = encoder.embed(&texts).expect("embed int8");
        let mut worst = 1f32;
        for (i, text) in texts.iter().enumerate() {
            let c = cosine(got.row(i), reference.row(i));
            assert!(c >= 0.999, "{isa}: cosine {c} for {text:?}");
            worst = worst.min(c);
        }
        eprintln!(
            "int8/{isa}: lowest cosine with f32 over {} messages: {worst:.5}",
            texts.len()
        );
        match &first {
            None => first = Some(got),
            Some(f) => assert!(f == &got, "int8/{isa} differs from int8/avx2"),
        }
    }
}
