//! Fine-tuning on a tiny random BERT: the loss goes down, the saved delta loaded over the base
//! gives the trained layers' vectors, and `madoguchi train --finetune` writes a version that holds
//! the delta, serves (classify) and survives a head-only retrain.
use std::path::Path;

use candle_core::Tensor;
use madoguchi::nlu::encoder::masked_mean_l2;
use madoguchi::nlu::finetune::delta::{
    delta_tag, load_finetuned, EncoderFiles, TrainedOn, DELTA_FILE,
};
use madoguchi::nlu::finetune::layers::{Dropout, TrainableLayers};
use madoguchi::nlu::finetune::lower::LowerStates;
use madoguchi::nlu::finetune::train::{classes, finetune, FinetuneOptions};
use madoguchi::nlu::kernels::{Precision, PrecisionChoice};
use madoguchi::nlu::{BertEncoder, Encoder, EncoderOptions};

use crate::encoder::write_tiny_encoder;
use crate::util::{copy_catalog, madoguchi, show};

fn f32_options() -> EncoderOptions {
    EncoderOptions {
        precision: PrecisionChoice::Fixed(Precision::F32),
        ..Default::default()
    }
}

const TEXTS: [(&str, usize); 12] = [
    ("where is my order", 0),
    ("my order where", 0),
    ("where is order", 0),
    ("order where is my", 0),
    ("is my order where now", 0),
    ("where my order", 0),
    ("refund please", 1),
    ("refund now please", 1),
    ("please refund", 1),
    ("refund please now", 1),
    ("my refund please", 1),
    ("now refund", 1),
];

/// A tiny random encoder in a temporary folder, its lower layer run over [`TEXTS`].
struct Tiny {
    dir: tempfile::TempDir,
    base: BertEncoder,
    texts: Vec<&'static str>,
    labels: Vec<Option<usize>>,
    lower: LowerStates,
    files: EncoderFiles,
}

impl Tiny {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        write_tiny_encoder(dir.path());
        let base = BertEncoder::from_dir(dir.path(), f32_options()).expect("base");
        let texts: Vec<&str> = TEXTS.iter().map(|t| t.0).collect();
        let labels: Vec<Option<usize>> = TEXTS.iter().map(|t| Some(t.1)).collect();
        let lower = LowerStates::compute(&base, &texts, 1).expect("lower layers");
        let files = EncoderFiles::in_dir(dir.path()).expect("files");
        Self {
            dir,
            base,
            texts,
            labels,
            lower,
            files,
        }
    }

    /// The encoder's top layer, trainable, as the base weights have it.
    fn layers(&self) -> TrainableLayers {
        let config = self.files.config().expect("config");
        TrainableLayers::from_base(&self.files.base_weights().expect("weights"), &config, 1)
            .expect("layers")
    }

    /// Hidden states of every text through `layers` (no dropout), with the batch's mask.
    fn hidden(&self, layers: &TrainableLayers) -> (Tensor, Tensor) {
        let idx: Vec<usize> = (0..self.texts.len()).collect();
        let (x, mask) = self.lower.batch(&idx).expect("batch");
        let hidden = layers.forward(&x, &mask, &Dropout::off()).expect("forward");
        (hidden, mask)
    }
}

#[test]
fn finetuning_lowers_the_loss_and_the_delta_round_trips() {
    let tiny = Tiny::new();
    let layers = tiny.layers();
    let (train, n) = classes(&tiny.labels, 2);
    let options = FinetuneOptions {
        layers: 1,
        epochs: 8,
        learning_rate: 1e-2,
        head_learning_rate: 5e-2,
        batch_size: 4,
        dropout: 0.0,
        patience: 100,
        ..Default::default()
    };
    let (report, head) =
        finetune(&layers, &tiny.lower, &train, &[], n, &options).expect("finetune");
    let (first, last) = (report.train_loss[0], report.train_loss[options.epochs - 1]);
    assert!(last < 0.8 * first, "loss {first} → {last}: {report:?}");
    // The cosine head it returns has a row per class.
    assert_eq!(head.0.dims2().expect("a matrix").0, n);

    let delta = tiny.dir.path().join("delta.safetensors");
    layers.save(&delta).expect("save delta");
    let tuned = load_finetuned(tiny.dir.path(), &delta, f32_options()).expect("base + delta");
    assert_ne!(tuned.fingerprint(), tiny.base.fingerprint());
    assert!(
        delta_tag(tuned.fingerprint()).is_some(),
        "{}",
        tuned.fingerprint()
    );
    let got = tuned.embed(&tiny.texts).expect("embed");
    let before = tiny.base.embed(&tiny.texts).expect("embed");
    let (hidden, mask) = tiny.hidden(&layers);
    let want: Vec<Vec<f32>> = masked_mean_l2(&hidden, &mask)
        .expect("pool")
        .to_vec2()
        .expect("vec");
    let mut moved = 0f32;
    for (i, w) in want.iter().enumerate() {
        for ((g, w), b) in got.row(i).iter().zip(w).zip(before.row(i)) {
            assert!((g - w).abs() < 1e-4, "text {i}: {g} vs {w}");
            moved = moved.max((g - b).abs());
        }
    }
    assert!(moved > 1e-3, "fine-tuning did not change the vectors");
}

#[test]
fn one_seed_gives_one_finetune_dropout_included() {
    let tiny = Tiny::new();
    let (train, n) = classes(&tiny.labels, 2);
    let tuned = |seed: u64| {
        let layers = tiny.layers();
        let options = FinetuneOptions {
            layers: 1,
            epochs: 2,
            batch_size: 4,
            dropout: 0.1,
            seed,
            ..Default::default()
        };
        finetune(&layers, &tiny.lower, &train, &[], n, &options).expect("finetune");
        tiny.hidden(&layers)
            .0
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("vec")
    };
    let (a, b, other) = (tuned(7), tuned(7), tuned(8));
    assert_eq!(a, b, "the same seed fine-tuned differently");
    assert_ne!(
        a, other,
        "another seed should draw other batches and dropout"
    );
}

fn train(dir: &Path, encoder: &Path, extra: &[&str]) -> String {
    let enc = encoder.to_string_lossy().to_string();
    let mut args = vec![
        "train",
        "--quiet",
        "--encoder",
        enc.as_str(),
        "--precision",
        "f32",
    ];
    args.extend_from_slice(extra);
    let out = madoguchi(dir, &args, b"");
    assert!(out.status.success(), "{}", show("train", &out));
    std::fs::read_to_string(dir.join("models/current"))
        .expect("current")
        .trim()
        .to_string()
}

#[test]
fn train_finetune_writes_a_delta_that_classify_loads_and_retrains_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let encoder = dir.path().join("tiny-encoder");
    std::fs::create_dir_all(&encoder).expect("mkdir");
    write_tiny_encoder(&encoder);
    let tuned = train(
        dir.path(),
        &encoder,
        &[
            "--finetune",
            "--finetune-layers",
            "1",
            "--finetune-epochs",
            "1",
        ],
    );
    let delta = dir.path().join("models").join(&tuned).join(DELTA_FILE);
    assert!(delta.is_file(), "{} has no delta", tuned);
    let manifest =
        std::fs::read_to_string(dir.path().join("models").join(&tuned).join("manifest.json"))
            .expect("manifest");
    assert!(manifest.contains("-ft"), "{manifest}");
    // The delta names the texts it was trained on, and calibration judged only the others.
    let trained_on = TrainedOn::read(&delta)
        .expect("read delta")
        .expect("a trained-on list");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    let examples = manifest["metrics"]["examples"].as_u64().expect("examples") as usize;
    let calibrated = manifest["metrics"]["calibration"]["examples"]
        .as_u64()
        .expect("calibration examples") as usize;
    assert!(trained_on.len() > examples / 2, "{}", trained_on.len());
    assert!(calibrated + trained_on.len() <= examples, "{calibrated}");
    assert!(calibrated < examples / 4, "{calibrated} of {examples}");

    let enc = encoder.to_string_lossy().to_string();
    let classify = |dir: &Path| {
        let out = madoguchi(
            dir,
            &[
                "classify",
                "--format",
                "jsonl",
                "--encoder",
                enc.as_str(),
                "--precision",
                "f32",
            ],
            b"where is my order\n",
        );
        assert!(out.status.success(), "{}", show("classify", &out));
    };
    classify(dir.path());

    // A head-only retrain on top of the fine-tuned version keeps its layers.
    let retrained = train(dir.path(), &encoder, &[]);
    assert_ne!(retrained, tuned);
    let kept = dir.path().join("models").join(&retrained).join(DELTA_FILE);
    assert_eq!(
        std::fs::read(&kept).expect("retrained delta"),
        std::fs::read(&delta).expect("delta")
    );
    classify(dir.path());

    // `bench` retrains the fine-tuned version as `train` does, in a scratch directory.
    let messages = dir.path().join("messages.txt");
    std::fs::write(&messages, "where is my order\nパスワードを忘れました\n").expect("messages");
    let msgs = messages.to_string_lossy().to_string();
    let args = [
        "bench",
        "--skip-cold-train",
        "--messages",
        &msgs,
        "--encoder",
        &enc,
        "--precision",
        "f32",
    ];
    let out = madoguchi(dir.path(), &args, b"");
    assert!(out.status.success(), "{}", show("bench", &out));
    let models = || {
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("models"))
            .expect("models")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        let current = std::fs::read_to_string(dir.path().join("models/current")).expect("current");
        (names, current)
    };
    assert_eq!(models().1.trim(), retrained, "bench moved `current`");
    let before = models();
    let out = madoguchi(dir.path(), &args, b"");
    assert!(out.status.success(), "{}", show("bench", &out));
    assert_eq!(models(), before, "bench changed the models directory");
}

#[test]
fn eval_finetune_cross_validates_the_catalog_with_an_encoder_tuned_per_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let encoder = dir.path().join("tiny-encoder");
    std::fs::create_dir_all(&encoder).expect("mkdir");
    write_tiny_encoder(&encoder);
    let enc = encoder.to_string_lossy().to_string();
    let out_dir = dir.path().join("eval-out");
    let out_arg = out_dir.to_string_lossy().to_string();
    let eval = || {
        let out = madoguchi(
            dir.path(),
            &[
                "eval",
                "--smoke",
                "--datasets",
                "no-datasets-here",
                "--finetune",
                "--finetune-layers",
                "1",
                "--finetune-epochs",
                "1",
                "--encoder",
                enc.as_str(),
                "--precision",
                "f32",
                "--out",
                out_arg.as_str(),
            ],
            b"",
        );
        assert!(out.status.success(), "{}", show("eval --finetune", &out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = eval();
    assert!(stdout.contains("| catalog (3 folds) | 1 |"), "{stdout}");
    assert!(!stdout.contains("(reused)"), "{stdout}");
    let first_report = std::fs::read_to_string(out_dir.join("eval.json")).expect("eval.json");
    let tuned: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("finetune.json")).expect("finetune.json"),
    )
    .expect("json");
    assert_eq!(tuned[0]["name"], "catalog (3 folds)");
    assert!(tuned[0]["report"]["seconds"].as_f64().expect("seconds") > 0.0);
    let evals: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("eval.json")).expect("eval.json"),
    )
    .expect("json");
    assert_eq!(evals[0]["name"], "catalog");
    // Every catalog message was judged by a fold whose encoder never saw it.
    let judged = evals[0]["report"]["examples"].as_u64().expect("examples");
    assert_eq!(
        judged,
        evals[0]["test_examples"].as_u64().expect("test examples")
    );

    // A second run reuses every fold's fine-tuned layers and measures the same.
    let again = eval();
    assert!(again.contains("(reused)"), "{again}");
    let second: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("eval.json")).expect("eval.json"),
    )
    .expect("json");
    let first: serde_json::Value = serde_json::from_str(&first_report).expect("json");
    assert_eq!(
        first[0]["report"]["accuracy"],
        second[0]["report"]["accuracy"]
    );
    assert_eq!(
        first[0]["report"]["coverage_curve"],
        second[0]["report"]["coverage_curve"]
    );
}

#[test]
fn averaged_weights_are_tried_and_kept_only_when_they_do_better_on_held_out_data() {
    let tiny = Tiny::new();
    let layers = tiny.layers();
    let (all, n) = classes(&tiny.labels, 2);
    let options = FinetuneOptions {
        layers: 1,
        epochs: 6,
        learning_rate: 1e-2,
        head_learning_rate: 5e-2,
        batch_size: 4,
        dropout: 0.0,
        patience: 100,
        average: true,
        ..Default::default()
    };
    // Judged on the training texts themselves: what counts is that the choice follows the score.
    let (report, _) = finetune(&layers, &tiny.lower, &all, &all, n, &options).expect("finetune");
    let (averaged, kept) = report.averaged.expect("the second half's weights averaged");
    let best_single = report.held_out_accuracy[1..]
        .iter()
        .copied()
        .fold(f32::MIN, f32::max)
        .max(report.held_out_accuracy[0]);
    // Scores within one held-out text of each other are tied, the lower loss winning (which the
    // report does not hold), for the epoch kept as for the average: kept, the average is at
    // most two texts behind the best single epoch's accuracy; not kept, at most one ahead.
    let one_text = 1.0 / all.len() as f32 + 1e-6;
    if kept {
        assert!(averaged >= best_single - 2.0 * one_text, "{report:?}");
    } else {
        assert!(averaged <= best_single + one_text, "{report:?}");
    }
    // Off, nothing is averaged.
    let layers = tiny.layers();
    let plain = FinetuneOptions {
        average: false,
        ..options
    };
    let (report, _) = finetune(&layers, &tiny.lower, &all, &all, n, &plain).expect("finetune");
    assert!(report.averaged.is_none());
}
