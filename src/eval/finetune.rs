//! `madoguchi eval --finetune`: fine-tune the encoder's top layers on a benchmark's train split
//! (early stopping on dev), then evaluate exactly as for the frozen encoder — the same head, the
//! same calibration on dev, the same report on test — on the fine-tuned encoder's vectors, computed
//! by the inference kernels from the base + delta weights. On data with an out-of-scope split the
//! explicit out-of-scope class and a Mahalanobis gate are compared.
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::datasets::{Dataset, Example};
use super::oos::{auroc, choose_threshold, larson, MahalanobisGate, OosResult};
use super::runner::{evaluate_embedded, label_ids, CatalogFolds, Evaluation, FoldVectors};
use crate::nlu::decision::Scores;
use crate::nlu::finetune::delta::{load_finetuned, EncoderFiles};
use crate::nlu::finetune::layers::TrainableLayers;
use crate::nlu::finetune::lower::LowerStates;
use crate::nlu::finetune::train::{
    classes, cosine_logits, finetune, hold_out_tenth, offset, peak_rss_mib, CosineHead,
    FinetuneOptions, FinetuneReport, Labelled,
};
use crate::nlu::fit::{argmax, FitOptions, Fitted};
use crate::nlu::head::{softmax, Head, HeadConfig};
use crate::nlu::{BertEncoder, Embeddings, Encoder, EncoderOptions, NluError};

/// What fine-tuning cost and gave on one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneOutcome {
    pub name: String,
    pub options: FinetuneOptions,
    pub report: FinetuneReport,
    /// Whether the delta was reused from an earlier run (`report` is that run's).
    pub reused: bool,
    /// Seconds the frozen lower layers took over every split (once per text).
    pub lower_seconds: f64,
    /// Seconds to embed every split with the fine-tuned layers (fast kernels).
    pub embed_seconds: f64,
    pub peak_rss_mib: Option<f64>,
    /// Out-of-scope methods compared on the test split (data with an out-of-scope split only).
    pub oos: Vec<OosResult>,
    /// The fine-tuning's own head against the fitted one (benchmarks, when the head was kept).
    pub heads: Option<HeadComparison>,
    /// The encoder and head trained again on train + dev (`--finetune-refit`).
    pub refit: Option<Refit>,
}

/// A benchmark's encoder and head trained again on train and dev together, for as many epochs as
/// dev chose and with the head's learning rate dev chose (no early stopping, nothing left to
/// calibrate on): the protocol of the papers that report BANKING77 and HWU64, which train on the
/// whole training file. Only accuracies are reported; thresholds need held-out data.
#[derive(Debug, Clone, Serialize)]
pub struct Refit {
    pub epochs: usize,
    pub train_examples: usize,
    /// Seconds of fine-tuning (0 when the delta was reused).
    pub seconds: f64,
    pub reused: bool,
    /// In-scope test accuracy (argmax over every class) of the fitted and cosine heads.
    pub accuracy: HeadComparison,
}

/// Accuracy on the in-scope test messages (argmax over every class, out of scope included) of the
/// head fitted on the tuned vectors, of the cosine head fine-tuning trained, and of their mean
/// probabilities.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HeadComparison {
    pub fitted: f32,
    pub cosine: f32,
    pub mean: f32,
}

impl std::fmt::Display for HeadComparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fitted head {:.2} %, cosine head {:.2} %, mean {:.2} %",
            self.fitted * 100.0,
            self.cosine * 100.0,
            self.mean * 100.0
        )
    }
}

/// Everything the fine-tuned evaluation needs besides the data.
pub struct FinetuneEval<'a> {
    pub base: &'a BertEncoder,
    pub encoder_dir: &'a Path,
    pub encoder_options: EncoderOptions,
    pub options: FinetuneOptions,
    /// Where the delta is written.
    pub work_dir: &'a Path,
    /// One encoder is fine-tuned per seed (`options.seed` is ignored); with more than one, their
    /// vectors are put together as `combine` says.
    pub seeds: Vec<u64>,
    pub combine: Combine,
    /// Also train the first seed's encoder and head again on train + dev (see [`Refit`]).
    pub refit: bool,
}

/// How the encoders fine-tuned with different seeds make one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Combine {
    /// Side by side, each part scaled by 1/√k so rows stay unit length: the head sees them all.
    Concat,
    /// The normalised mean of the parts.
    Mean,
    /// One encoder whose layers are the mean of the seeds' layers (a "model soup").
    Soup,
}

impl std::str::FromStr for Combine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "concat" => Ok(Self::Concat),
            "mean" => Ok(Self::Mean),
            "soup" => Ok(Self::Soup),
            other => Err(format!(
                "unknown way to combine encoders '{other}': concat, mean or soup"
            )),
        }
    }
}

impl FinetuneEval<'_> {
    fn with_seed(&self, seed: u64) -> FinetuneOptions {
        FinetuneOptions {
            seed,
            ..self.options.clone()
        }
    }

    /// The options of the first seed's fine-tuning, whose report a run shows.
    fn lead_options(&self) -> FinetuneOptions {
        self.with_seed(self.seeds.first().copied().unwrap_or(self.options.seed))
    }

    /// What the run's name says about the seeds, e.g. " (seeds 7+8, concat)"; empty for one.
    fn suffix(&self) -> String {
        if self.seeds.len() < 2 {
            return String::new();
        }
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let how = format!("{:?}", self.combine).to_lowercase();
        format!(" (seeds {}, {how})", seeds.join("+"))
    }
}

fn texts(ex: &[Example]) -> Vec<&str> {
    ex.iter().map(|e| e.text.as_str()).collect()
}

/// One fine-tuning: what it is called, the labelled texts it trains and stops on, and the frozen
/// layers' output it starts from.
struct TuningRun<'a> {
    name: &'a str,
    texts: &'a [&'a str],
    lower: &'a LowerStates,
    /// The first fine-tuned layer.
    first: usize,
    train: &'a [Labelled],
    dev: &'a [Labelled],
    n_classes: usize,
}

impl TuningRun<'_> {
    /// Names what decides the delta: base encoder, options, and the labelled texts in order.
    fn key(&self, ft: &FinetuneEval<'_>, options: &FinetuneOptions) -> Result<String, NluError> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(ft.base.fingerprint().as_bytes());
        let options = serde_json::to_string(options)
            .map_err(|e| NluError::Training(format!("fine-tuning options: {e}")))?;
        h.update(options.as_bytes());
        for (split, items) in [("train", self.train), ("dev", self.dev)] {
            h.update(split.as_bytes());
            for l in items {
                h.update(self.texts[l.text].as_bytes());
                h.update([0]);
                h.update((l.class as u64).to_le_bytes());
            }
        }
        Ok(hex::encode(&h.finalize()[..8]))
    }
}

/// The encoder fine-tuned by `run`, with its report and whether it was reused: the delta comes
/// from `ft.work_dir` when the same base, options and labelled texts were fine-tuned before (so
/// `make eval` runs again in minutes); else it is fine-tuned and kept there.
fn tune_or_reuse(
    ft: &FinetuneEval<'_>,
    run: &TuningRun<'_>,
    options: &FinetuneOptions,
) -> Result<Tuned, NluError> {
    let stem = format!("{}-{}", run.name, run.key(ft, options)?);
    let delta = ft.work_dir.join(format!("{stem}.safetensors"));
    let report_file = ft.work_dir.join(format!("{stem}.json"));
    let head_file = ft.work_dir.join(format!("{stem}.head.safetensors"));
    if delta.is_file() {
        let kept = std::fs::read_to_string(&report_file)
            .ok()
            .and_then(|json| serde_json::from_str::<FinetuneReport>(&json).ok());
        if let Some(report) = kept {
            eprintln!("reusing the fine-tuned layers of {}", delta.display());
            let encoder = load_finetuned(ft.encoder_dir, &delta, ft.encoder_options.clone())?;
            // Deltas kept before heads were saved have none.
            let head = candle_core::safetensors::load(&head_file, &candle_core::Device::Cpu)
                .ok()
                .and_then(|mut t| t.remove("head"))
                .map(CosineHead);
            return Ok(Tuned {
                encoder,
                report,
                head,
                reused: true,
                delta,
            });
        }
    }
    let files = EncoderFiles::in_dir(ft.encoder_dir)?;
    let layers = TrainableLayers::from_base(&files.base_weights()?, &files.config()?, run.first)?;
    let (report, head) = finetune(
        &layers,
        run.lower,
        run.train,
        run.dev,
        run.n_classes,
        options,
    )?;
    std::fs::create_dir_all(ft.work_dir).map_err(|e| NluError::io(ft.work_dir, e))?;
    let heads = std::collections::HashMap::from([("head".to_string(), head.0.clone())]);
    candle_core::safetensors::save(&heads, &head_file)?;
    let tmp = ft.work_dir.join(format!(".{stem}.writing"));
    layers.save(&tmp)?;
    std::fs::rename(&tmp, &delta).map_err(|e| NluError::io(&delta, e))?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| NluError::Training(format!("fine-tuning report: {e}")))?;
    std::fs::write(&report_file, json).map_err(|e| NluError::io(&report_file, e))?;
    let encoder = load_finetuned(ft.encoder_dir, &delta, ft.encoder_options.clone())?;
    Ok(Tuned {
        encoder,
        report,
        head: Some(head),
        reused: false,
        delta,
    })
}

/// A fine-tuned (or reused) encoder with its report and, where kept, its cosine head.
struct Tuned {
    encoder: BertEncoder,
    report: FinetuneReport,
    head: Option<CosineHead>,
    reused: bool,
    delta: std::path::PathBuf,
}

/// The encoders of one run, one per seed of `ft.seeds` (one averaged encoder for
/// [`Combine::Soup`]), and how their vectors make one.
struct Ensemble {
    encoders: Vec<BertEncoder>,
    combine: Combine,
    /// The first seed's report, with every seed's training seconds.
    report: FinetuneReport,
    /// The fine-tuning's cosine head, for a single seed only: it fits one encoder's vectors.
    head: Option<CosineHead>,
    reused: bool,
}

impl Ensemble {
    fn tune(ft: &FinetuneEval<'_>, run: &TuningRun<'_>) -> Result<Self, NluError> {
        let tuned = ft
            .seeds
            .iter()
            .map(|&seed| tune_or_reuse(ft, run, &ft.with_seed(seed)))
            .collect::<Result<Vec<_>, _>>()?;
        let reused = tuned.iter().all(|t| t.reused);
        let seconds = tuned.iter().map(|t| t.report.seconds).sum();
        let single = tuned.len() == 1;
        let soup_of = (ft.combine == Combine::Soup && !single)
            .then(|| tuned.iter().map(|t| t.delta.clone()).collect::<Vec<_>>());
        let mut tuned = tuned.into_iter();
        let Some(lead) = tuned.next() else {
            return Err(NluError::Training("no fine-tuning seed given".into()));
        };
        let report = FinetuneReport {
            seconds,
            ..lead.report
        };
        let head = lead.head.filter(|_| single);
        let encoders = match soup_of {
            Some(deltas) => vec![soup(ft, &deltas)?],
            None => std::iter::once(lead.encoder)
                .chain(tuned.map(|t| t.encoder))
                .collect(),
        };
        Ok(Self {
            encoders,
            combine: ft.combine,
            report,
            head,
            reused,
        })
    }

    /// The vectors of `items` (indices into `lower`'s texts).
    fn embed(&self, lower: &LowerStates, items: &[usize]) -> Result<Embeddings, NluError> {
        let parts = self
            .encoders
            .iter()
            .map(|e| lower.embed_with(e.bert(), items))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(combine(parts, self.combine))
    }
}

/// One encoder with the mean of the deltas' layers, written beside them.
fn soup(ft: &FinetuneEval<'_>, deltas: &[std::path::PathBuf]) -> Result<BertEncoder, NluError> {
    let cpu = candle_core::Device::Cpu;
    let loaded = deltas
        .iter()
        .map(|d| candle_core::safetensors::load(d, &cpu))
        .collect::<Result<Vec<_>, _>>()?;
    let mut mean = std::collections::HashMap::new();
    for (name, first) in &loaded[0] {
        let mut sum = first.clone();
        for other in &loaded[1..] {
            let t = other.get(name).ok_or_else(|| {
                NluError::Training(format!("the deltas to average differ: no {name}"))
            })?;
            sum = (sum + t)?;
        }
        mean.insert(name.clone(), (sum / loaded.len() as f64)?);
    }
    let stems: Vec<String> = deltas
        .iter()
        .filter_map(|d| d.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let path = ft
        .work_dir
        .join(format!("soup-{}.safetensors", short_hash(&stems.join("+"))));
    candle_core::safetensors::save(&mean, &path)?;
    load_finetuned(ft.encoder_dir, &path, ft.encoder_options.clone())
}

fn short_hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..8])
}

/// One vector per row from each encoder's rows (all of one length).
fn combine(mut parts: Vec<Embeddings>, how: Combine) -> Embeddings {
    if parts.len() < 2 {
        return parts.pop().unwrap_or_else(|| Embeddings::new(0));
    }
    let (k, dim, n) = (parts.len(), parts[0].dim, parts[0].len());
    let mut out = Embeddings::new(if how == Combine::Concat { dim * k } else { dim });
    let scale = 1.0 / (k as f32).sqrt();
    for i in 0..n {
        let row: Vec<f32> = match how {
            Combine::Concat => parts
                .iter()
                .flat_map(|p| p.row(i).iter().map(|v| v * scale))
                .collect(),
            Combine::Mean | Combine::Soup => {
                let mut sum = vec![0.0f32; dim];
                for p in &parts {
                    sum.iter_mut().zip(p.row(i)).for_each(|(s, v)| *s += v);
                }
                let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                sum.iter().map(|v| v / norm).collect()
            }
        };
        out.push(&row);
    }
    out
}

/// Fine-tunes on `data.train` (early stopping on `data.dev`) and evaluates on `data.test`.
pub fn evaluate_dataset_finetuned(
    ft: &FinetuneEval<'_>,
    data: &Dataset,
    fit_options: &FitOptions,
    targets: &[f32],
) -> Result<(Evaluation, FinetuneOutcome), NluError> {
    let names: Vec<String> = data.intents().into_iter().map(String::from).collect();
    let (ntr, ndv, nte) = (data.train.len(), data.dev.len(), data.test.len());
    let mut all = texts(&data.train);
    all.extend(texts(&data.dev));
    all.extend(texts(&data.test));
    let files = EncoderFiles::in_dir(ft.encoder_dir)?;
    let config = files.config()?;
    let first = config
        .num_hidden_layers
        .saturating_sub(ft.options.layers.max(1));
    eprintln!(
        "fine-tuning layers {first}..{} on {} ({ntr} train / {ndv} dev)…",
        config.num_hidden_layers, data.name
    );
    let lower = LowerStates::compute(ft.base, &all, first)?;
    eprintln!(
        "frozen layers 0..{first}: {:.0} s for {} texts",
        lower.seconds,
        all.len()
    );
    let ytr = label_ids(&data.train, &names);
    let ydv = label_ids(&data.dev, &names);
    let yte = label_ids(&data.test, &names);
    let (train, n_classes) = classes(&ytr, names.len());
    let (dev, _) = classes(&ydv, names.len());
    // Out-of-scope dev examples count only when the head has that class.
    let dev: Vec<_> = offset(dev, ntr)
        .into_iter()
        .filter(|l| l.class < n_classes)
        .collect();
    let run = TuningRun {
        name: &data.name,
        texts: &all,
        lower: &lower,
        first,
        train: &train,
        dev: &dev,
        n_classes,
    };
    let ensemble = Ensemble::tune(ft, &run)?;
    let t = Instant::now();
    let range = |a: usize, b: usize| (a..b).collect::<Vec<_>>();
    let xtr = ensemble.embed(&lower, &range(0, ntr))?;
    let xdv = ensemble.embed(&lower, &range(ntr, ntr + ndv))?;
    let xte = ensemble.embed(&lower, &range(ntr + ndv, ntr + ndv + nte))?;
    let embed_seconds = t.elapsed().as_secs_f64();
    let stats = (all.len(), embed_seconds);
    let (mut evaluation, fitted) =
        evaluate_embedded(data, [&xtr, &xdv, &xte], stats, fit_options, targets)?;
    evaluation.name.push_str(&ft.suffix());
    let Ensemble {
        report,
        head,
        reused,
        ..
    } = ensemble;
    let oos = if data.has_out_of_scope {
        compare_oos(&fitted, names.len(), [&xtr, &xdv, &xte], [&ytr, &ydv, &yte])
    } else {
        Vec::new()
    };
    let heads = match &head {
        Some(h) => Some(compare_heads(
            h,
            (&fitted.head, fitted.temperature),
            &xte,
            &yte,
            ft.options.scale,
        )?),
        None => None,
    };
    let refit = if ft.refit {
        let r = refit(ft, &run, report.best_epoch, &fitted, fit_options, &yte)?;
        eprintln!(
            "{}: refit on train + dev ({} epochs), in-scope test accuracy, {}",
            data.name, r.epochs, r.accuracy
        );
        Some(r)
    } else {
        None
    };
    if let Some(c) = heads {
        eprintln!("{}: in-scope test accuracy, {c}", data.name);
    }
    let outcome = FinetuneOutcome {
        name: format!("{}{}", data.name, ft.suffix()),
        options: ft.lead_options(),
        report,
        reused,
        lower_seconds: lower.seconds,
        embed_seconds,
        peak_rss_mib: peak_rss_mib(),
        oos,
        heads,
        refit,
    };
    Ok((evaluation, outcome))
}

/// Fine-tunes `run`'s encoder again on its train and dev examples together for `epochs` epochs,
/// fits the head on their vectors with the learning rate `dev_fitted` was chosen with, and scores
/// both heads on the test rows (`y_test`, the texts after train and dev in `run.texts`).
fn refit(
    ft: &FinetuneEval<'_>,
    run: &TuningRun<'_>,
    epochs: usize,
    dev_fitted: &Fitted,
    fit_options: &FitOptions,
    y_test: &[Option<usize>],
) -> Result<Refit, NluError> {
    let together: Vec<Labelled> = run.train.iter().chain(run.dev).copied().collect();
    let name = format!("{}-refit", run.name);
    let whole = TuningRun {
        name: &name,
        train: &together,
        dev: &[],
        ..*run
    };
    let options = FinetuneOptions {
        epochs: epochs.max(1),
        ..ft.lead_options()
    };
    let tuned = tune_or_reuse(ft, &whole, &options)?;
    let rows: Vec<usize> = together.iter().map(|l| l.text).collect();
    let x = run.lower.embed_with(tuned.encoder.bert(), &rows)?;
    let targets: Vec<usize> = together.iter().map(|l| l.class).collect();
    let config = HeadConfig {
        learning_rate: dev_fitted.head_learning_rate,
        ..fit_options.head.clone()
    };
    let head = Head::fit(&x, &targets, run.n_classes, &config)?;
    let first_test = run.texts.len() - y_test.len();
    let test_rows: Vec<usize> = (first_test..run.texts.len()).collect();
    let xte = run.lower.embed_with(tuned.encoder.bert(), &test_rows)?;
    let cosine = tuned
        .head
        .ok_or_else(|| NluError::Training("the refit encoder has no cosine head".into()))?;
    let accuracy = compare_heads(
        &cosine,
        (&head, dev_fitted.temperature),
        &xte,
        y_test,
        options.scale,
    )?;
    Ok(Refit {
        epochs: options.epochs,
        train_examples: together.len(),
        seconds: tuned.report.seconds,
        reused: tuned.reused,
        accuracy,
    })
}

/// Cross-validates the catalog with an encoder fine-tuned, for each fold, on the other folds only
/// (early stopping on a tenth of them), so no judged message was seen by the encoder or the head.
/// The outcome's report is the first fold's; its seconds are every fold's together.
pub(crate) fn evaluate_catalog_finetuned(
    ft: &FinetuneEval<'_>,
    folds: &CatalogFolds<'_>,
) -> Result<(Evaluation, FinetuneOutcome), NluError> {
    let names = folds.catalog.names();
    let (texts, labels) = folds.data.texts_and_labels(&names);
    let files = EncoderFiles::in_dir(ft.encoder_dir)?;
    let config = files.config()?;
    let first = config
        .num_hidden_layers
        .saturating_sub(ft.options.layers.max(1));
    let lower = LowerStates::compute(ft.base, &texts, first)?;
    eprintln!(
        "frozen layers 0..{first}: {:.0} s for {} texts",
        lower.seconds,
        texts.len()
    );
    let (all, n_classes) = classes(&labels, names.len());
    let every_text: Vec<usize> = (0..texts.len()).collect();
    let mut reports: Vec<FinetuneReport> = Vec::new();
    let mut all_reused = true;
    let mut embed_seconds = 0.0;
    let mut evaluation = folds.cross_validate((texts.len(), lower.seconds), |held| {
        let rest: Vec<_> = all
            .iter()
            .filter(|l| !held.contains(&l.text))
            .copied()
            .collect();
        let (train, dev) = hold_out_tenth(rest, &texts);
        let run = TuningRun {
            name: &format!("catalog-fold{}", reports.len() + 1),
            texts: &texts,
            lower: &lower,
            first,
            train: &train,
            dev: &dev,
            n_classes,
        };
        let tuned = Ensemble::tune(ft, &run)?;
        reports.push(tuned.report.clone());
        all_reused &= tuned.reused;
        let t = Instant::now();
        let x = tuned.embed(&lower, &every_text)?;
        embed_seconds += t.elapsed().as_secs_f64();
        let mut unseen = vec![true; texts.len()];
        for l in &train {
            unseen[l.text] = false;
        }
        Ok(FoldVectors {
            x,
            unseen: Some(unseen),
        })
    })?;
    evaluation.name.push_str(&ft.suffix());
    let mut report = reports.first().cloned().unwrap_or_default();
    report.seconds = reports.iter().map(|r| r.seconds).sum();
    let outcome = FinetuneOutcome {
        name: format!("catalog ({} folds){}", reports.len(), ft.suffix()),
        options: ft.lead_options(),
        report,
        reused: all_reused,
        lower_seconds: lower.seconds,
        embed_seconds,
        peak_rss_mib: peak_rss_mib(),
        oos: Vec::new(),
        heads: None,
        refit: None,
    };
    Ok((evaluation, outcome))
}

/// In-scope test accuracy of the fitted head, the cosine head and their mean probabilities.
fn compare_heads(
    head: &CosineHead,
    (fitted, temperature): (&Head, f32),
    x: &Embeddings,
    y: &[Option<usize>],
    scale: f64,
) -> Result<HeadComparison, NluError> {
    let e = candle_core::Tensor::from_slice(&x.data, (x.len(), x.dim), &candle_core::Device::Cpu)?;
    let cosine: Vec<Vec<f32>> = cosine_logits(&e, &head.0, scale)?.to_vec2()?;
    let n_classes = head.0.dims2()?.0;
    let (mut right, mut total) = ([0usize; 3], 0usize);
    for (i, label) in y.iter().enumerate() {
        let Some(label) = *label else { continue };
        let e = x.row(i);
        let cosine = &cosine[i];
        let p_cosine = softmax(cosine, 1.0);
        let mut p_fitted = softmax(&fitted.logits(e), temperature);
        p_fitted.resize(n_classes, 0.0);
        let p_mean: Vec<f32> = p_cosine
            .iter()
            .zip(&p_fitted)
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        for (k, p) in [&p_fitted, &p_cosine, &p_mean].into_iter().enumerate() {
            right[k] += usize::from(argmax(p) == label);
        }
        total += 1;
    }
    let share = |r: usize| r as f32 / total.max(1) as f32;
    Ok(HeadComparison {
        fitted: share(right[0]),
        cosine: share(right[1]),
        mean: share(right[2]),
    })
}

/// The explicit out-of-scope class (the fitted head's own decision, scored by its out-of-scope
/// probability) against a Mahalanobis gate whose threshold is chosen on dev.
pub fn compare_oos(
    fitted: &Fitted,
    n_intents: usize,
    x: [&Embeddings; 3],
    y: [&[Option<usize>]; 3],
) -> Vec<OosResult> {
    let [xtr, xdv, xte] = x;
    let [ytr, ydv, yte] = y;
    let scores = |e: &Embeddings| -> Vec<Scores> {
        (0..e.len())
            .map(|i| {
                Scores::compute(
                    &fitted.head,
                    &fitted.index,
                    fitted.temperature,
                    n_intents,
                    e.row(i),
                )
            })
            .collect()
    };
    let (sdv, ste) = (scores(xdv), scores(xte));
    let top = |s: &[Scores]| s.iter().map(|s| s.top().0).collect::<Vec<_>>();
    let is_oos: Vec<bool> = yte.iter().map(Option::is_none).collect();
    let mut out = Vec::new();
    // (a) The head's decision: out-of-scope class (and its similarity gate, as served).
    let rejected: Vec<bool> = ste
        .iter()
        .map(|s| s.out_of_scope(&fitted.thresholds))
        .collect();
    let (acc, rec) = larson(&top(&ste), &rejected, yte);
    let p_oos: Vec<f32> = ste.iter().map(|s| s.p_out_of_scope - s.top().1).collect();
    out.push(OosResult {
        method: "out-of-scope class (as served)".into(),
        in_scope_accuracy: acc,
        oos_recall: rec,
        auroc: auroc(&p_oos, &is_oos),
    });
    // (a') The same scores with the threshold chosen on dev like the gate below.
    let p_dv: Vec<f32> = sdv.iter().map(|s| s.p_out_of_scope - s.top().1).collect();
    let t = choose_threshold(&p_dv, &top(&sdv), ydv);
    let rejected: Vec<bool> = p_oos.iter().map(|&s| s > t).collect();
    let (acc, rec) = larson(&top(&ste), &rejected, yte);
    out.push(OosResult {
        method: "out-of-scope class, threshold on dev".into(),
        in_scope_accuracy: acc,
        oos_recall: rec,
        auroc: auroc(&p_oos, &is_oos),
    });
    // (b) Mahalanobis distance to the nearest in-scope class mean.
    if let Some(gate) = MahalanobisGate::fit(xtr, ytr, n_intents) {
        let g = |e: &Embeddings| {
            (0..e.len())
                .map(|i| gate.score(e.row(i)))
                .collect::<Vec<_>>()
        };
        let (gdv, gte) = (g(xdv), g(xte));
        let t = choose_threshold(&gdv, &top(&sdv), ydv);
        let rejected: Vec<bool> = gte.iter().map(|&s| s > t).collect();
        let (acc, rec) = larson(&top(&ste), &rejected, yte);
        out.push(OosResult {
            method: "Mahalanobis gate (shared covariance), threshold on dev".into(),
            in_scope_accuracy: acc,
            oos_recall: rec,
            auroc: auroc(&gte, &is_oos),
        });
    }
    out
}

/// The table `eval --finetune` prints: training cost per benchmark.
pub fn finetune_table(outcomes: &[FinetuneOutcome]) -> String {
    let mut s = String::from(
        "| data | layers | epochs run (best) | held-out acc % per epoch | frozen layers s | fine-tune s | embed s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let accs: Vec<String> = o
            .report
            .held_out_accuracy
            .iter()
            .map(|a| format!("{:.1}", a * 100.0))
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {:.0} | {} | {:.0} | {} |\n",
            o.name,
            o.options.layers,
            o.report.train_loss.len(),
            o.report.best_epoch,
            accs.join(" → "),
            o.lower_seconds,
            if o.reused {
                format!("{:.0} (reused)", o.report.seconds)
            } else {
                format!("{:.0}", o.report.seconds)
            },
            o.embed_seconds,
            o.peak_rss_mib.map_or("–".into(), |m| format!("{m:.0}")),
        ));
    }
    s
}

/// The out-of-scope comparison table.
pub fn oos_table(outcomes: &[FinetuneOutcome]) -> String {
    let mut s = String::from(
        "| data | method | in-scope acc % | OOS recall % | AUROC |\n|---|---|---|---|---|\n",
    );
    for o in outcomes {
        for r in &o.oos {
            s.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {:.3} |\n",
                o.name,
                r.method,
                r.in_scope_accuracy * 100.0,
                r.oos_recall * 100.0,
                r.auroc
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows(rows: &[[f32; 2]]) -> Embeddings {
        let mut e = Embeddings::new(2);
        for r in rows {
            let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
            e.push(&[r[0] / n, r[1] / n]);
        }
        e
    }

    #[test]
    fn combined_rows_stay_unit_length() {
        let a = unit_rows(&[[1.0, 0.0], [3.0, 4.0]]);
        let b = unit_rows(&[[0.0, 1.0], [3.0, 4.0]]);
        let concat = combine(vec![a.clone(), b.clone()], Combine::Concat);
        assert_eq!((concat.dim, concat.len()), (4, 2));
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(concat.row(0), &[s, 0.0, 0.0, s]);
        let mean = combine(vec![a, b], Combine::Mean);
        assert_eq!((mean.dim, mean.len()), (2, 2));
        assert!((mean.row(0)[0] - s).abs() < 1e-6 && (mean.row(0)[1] - s).abs() < 1e-6);
        assert!((mean.row(1)[0] - 0.6).abs() < 1e-6 && (mean.row(1)[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn one_encoder_is_left_as_it_is() {
        let a = unit_rows(&[[1.0, 2.0]]);
        let once = combine(vec![a.clone()], Combine::Concat);
        assert_eq!(once.data, a.data);
    }

    #[test]
    fn combine_names_parse() {
        assert_eq!("soup".parse::<Combine>(), Ok(Combine::Soup));
        assert!("sum"
            .parse::<Combine>()
            .unwrap_err()
            .contains("concat, mean or soup"));
    }
}
