//! `madoguchi eval`: cross-validation on the catalog and the public benchmarks; prints a summary
//! table and writes JSON + Markdown reports.
use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;

use super::local::LocalBot;
use super::suite::{load_suite, play_suite};
use super::Paths;
use crate::eval::datasets::{Benchmark, Dataset, DatasetError, Example};
use crate::eval::finetune::{
    evaluate_catalog_finetuned, evaluate_dataset_finetuned, finetune_table, oos_table, Combine,
    FinetuneEval, FinetuneOutcome,
};
use crate::eval::metrics::{mistakes_markdown, to_markdown};
use crate::eval::runner::{evaluate_catalog, evaluate_dataset, CatalogFolds, Evaluation};
use crate::nlu::cache::EmbeddingCache;
use crate::nlu::finetune::train::FinetuneOptions;
use crate::nlu::fit::FitOptions;

/// Precision targets the coverage curve is read at.
const TARGETS: [f32; 4] = [0.90, 0.95, 0.97, 0.98];

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Benchmarks to run (comma-separated): massive-ja, massive-en, banking77, clinc150, hwu64;
    /// `none` for the catalog's cross-validation alone.
    #[arg(long, value_delimiter = ',', default_values_t = Benchmark::all().map(|b| b.name().to_string()))]
    pub benchmarks: Vec<String>,
    /// Skip the catalog cross-validation.
    #[arg(long)]
    pub no_catalog: bool,
    /// Where the public datasets are.
    #[arg(long, env = "MADOGUCHI_DATASETS", default_value = "../shared/datasets")]
    pub datasets: PathBuf,
    /// A quick run on small stratified subsets (CI smoke test); numbers are not meaningful.
    #[arg(long)]
    pub smoke: bool,
    /// Folds for the catalog cross-validation.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Precision the answer threshold is tuned for.
    #[arg(long, default_value_t = 0.95)]
    pub target_precision: f32,
    /// Minimum held-out out-of-scope recall the out-of-scope gate is tuned for.
    #[arg(long, default_value_t = FitOptions::default().min_out_of_scope_recall)]
    pub min_oos_recall: f32,
    /// Hidden layer width of the head (0 = linear).
    #[arg(long, default_value_t = 0)]
    pub hidden: usize,
    /// Play the scripted conversations of this directory (e.g. `tests/conversations`) against the
    /// trained model instead of the benchmarks, and print a pass table by category.
    #[arg(long)]
    pub conversations: Option<PathBuf>,
    /// With `--conversations`: exit 1 when fewer than this share (0–1) of them pass.
    #[arg(long, default_value_t = 0.0)]
    pub min_pass_rate: f64,
    /// How many of the most confident wrong answers eval.md lists per evaluation (eval.json
    /// keeps them all).
    #[arg(long, default_value_t = 30)]
    pub mistakes: usize,
    /// Write eval.json and eval.md here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fine-tune the encoder's top layers on each benchmark's train split (early stopping on
    /// dev) before fitting the head; compares out-of-scope methods where the data has them.
    #[arg(long)]
    pub finetune: bool,
    #[command(flatten)]
    pub finetune_args: FinetuneArgs,
    /// With `--finetune`: fine-tune one encoder per seed (comma-separated; default: the one of
    /// `--finetune-seed`) and evaluate them together, as `--finetune-combine` says.
    #[arg(long, value_delimiter = ',')]
    pub finetune_seeds: Vec<u64>,
    /// How the encoders of several seeds make one vector: concat, mean or soup.
    #[arg(long, default_value = "concat")]
    pub finetune_combine: Combine,
    /// With `--finetune`: also train each benchmark's encoder and head again on train + dev for
    /// the epochs dev chose, and print that model's test accuracy (the papers' protocol).
    #[arg(long)]
    pub finetune_refit: bool,
}

/// Options of `--finetune` (shared by `train` and `eval`).
#[derive(Debug, Clone, Args)]
pub struct FinetuneArgs {
    /// Top transformer layers fine-tuned.
    #[arg(long, default_value_t = FinetuneOptions::default().layers)]
    pub finetune_layers: usize,
    /// Most fine-tuning epochs (fewer when held-out accuracy stops improving).
    #[arg(long, default_value_t = FinetuneOptions::default().epochs)]
    pub finetune_epochs: usize,
    /// Peak learning rate of the fine-tuned layers.
    #[arg(long, default_value_t = FinetuneOptions::default().learning_rate)]
    pub finetune_lr: f64,
    /// Fine-tuning mini-batch size.
    #[arg(long, default_value_t = FinetuneOptions::default().batch_size)]
    pub finetune_batch: usize,
    /// Also try the mean of the weights of the second half's epochs; kept when it does better on
    /// the held-out split.
    #[arg(long)]
    pub finetune_average: bool,
    /// Seed of the fine-tuning (batch order, dropout): two seeds give two different encoders.
    #[arg(long, default_value_t = FinetuneOptions::default().seed)]
    pub finetune_seed: u64,
    /// Cosine margin of the fine-tuning loss (large-margin cosine loss; 0: plain softmax).
    #[arg(long, default_value_t = FinetuneOptions::default().margin)]
    pub finetune_margin: f64,
}

impl FinetuneArgs {
    pub fn options(&self) -> FinetuneOptions {
        FinetuneOptions {
            layers: self.finetune_layers,
            epochs: self.finetune_epochs,
            learning_rate: self.finetune_lr,
            batch_size: self.finetune_batch,
            average: self.finetune_average,
            seed: self.finetune_seed,
            margin: self.finetune_margin,
            ..Default::default()
        }
    }
}

pub fn run(paths: &Paths, args: EvalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.conversations {
        return run_conversations(paths, dir, &args);
    }
    let benchmarks: Vec<Benchmark> = args
        .benchmarks
        .iter()
        .filter(|b| b.as_str() != "none")
        .map(|b| b.parse::<Benchmark>())
        .collect::<Result<_, _>>()?;
    // Benchmarks start from the published encoder, never from a version's fine-tuned layers.
    let (encoder, encoder_dir) = paths.load_base_encoder()?;
    let mut cache = EmbeddingCache::open(&paths.cache_dir(), &encoder)?;
    let mut options = FitOptions {
        target_precision: args.target_precision,
        min_out_of_scope_recall: args.min_oos_recall,
        ..Default::default()
    };
    options.head.hidden = (args.hidden > 0).then_some(args.hidden);

    let mut results: Vec<Evaluation> = Vec::new();
    let mut tuned: Vec<FinetuneOutcome> = Vec::new();
    let ft = FinetuneEval {
        base: &encoder,
        encoder_dir: &encoder_dir,
        encoder_options: paths.encoder_options(),
        options: args.finetune_args.options(),
        work_dir: &paths.cache_dir().join("finetuned"),
        seeds: match args.finetune_seeds.is_empty() {
            true => vec![args.finetune_args.finetune_seed],
            false => args.finetune_seeds.clone(),
        },
        combine: args.finetune_combine,
        refit: args.finetune_refit,
    };
    let mut skipped: Vec<String> = Vec::new();
    if !args.no_catalog {
        let (catalog, data, _) = crate::catalog::load(&paths.intents, &paths.training_data)?;
        let folds = if args.smoke { 3 } else { args.folds };
        eprintln!("evaluating the catalog ({folds}-fold cross-validation)…");
        if args.finetune {
            let folds = CatalogFolds {
                catalog: &catalog,
                data: &data,
                k: folds,
                options: &options,
                targets: &TARGETS,
            };
            let (evaluation, outcome) = evaluate_catalog_finetuned(&ft, &folds)?;
            results.push(evaluation);
            tuned.push(outcome);
        } else {
            results.push(evaluate_catalog(
                &encoder, &mut cache, &catalog, &data, folds, &options, &TARGETS,
            )?);
        }
    }
    for b in benchmarks {
        let data = match b.load(&args.datasets) {
            Ok(d) => d,
            Err(e @ DatasetError::Missing { .. }) => {
                eprintln!("skipped {}: {e}", b.name());
                skipped.push(format!("{}: {e}", b.name()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let data = if args.smoke { subsample(data) } else { data };
        eprintln!(
            "evaluating {} ({} train / {} dev / {} test)…",
            data.name,
            data.train.len(),
            data.dev.len(),
            data.test.len()
        );
        if args.finetune {
            let (evaluation, outcome) = evaluate_dataset_finetuned(&ft, &data, &options, &TARGETS)?;
            results.push(evaluation);
            tuned.push(outcome);
            continue;
        }
        results.push(evaluate_dataset(
            &encoder, &mut cache, &data, &options, &TARGETS,
        )?);
    }

    let summary = summary_table(&results);
    println!("{summary}");
    if !tuned.is_empty() {
        println!("{}", finetune_table(&tuned));
        if tuned.iter().any(|o| !o.oos.is_empty()) {
            println!("{}", oos_table(&tuned));
        }
    }
    for s in &skipped {
        println!("skipped {s}");
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)?;
        std::fs::write(
            out.join("eval.json"),
            serde_json::to_string_pretty(&results)?,
        )?;
        if !tuned.is_empty() {
            std::fs::write(
                out.join("finetune.json"),
                serde_json::to_string_pretty(&tuned)?,
            )?;
        }
        let mut md = format!(
            "# madoguchi evaluation\n\nencoder: {} ({})\n\n{summary}\n",
            encoder_name(paths),
            crate::nlu::Encoder::fingerprint(&encoder)
        );
        for r in &results {
            md.push('\n');
            md.push_str(&to_markdown(&r.name, &r.report));
            md.push_str(&mistakes_markdown(&r.mistakes, args.mistakes));
        }
        std::fs::write(out.join("eval.md"), md)?;
        eprintln!(
            "wrote {} and {}",
            out.join("eval.json").display(),
            out.join("eval.md").display()
        );
    }
    Ok(())
}

fn encoder_name(paths: &Paths) -> &str {
    &paths.encoder
}

fn pct(x: Option<f32>) -> String {
    x.map_or("–".into(), |v| format!("{:.1}", v * 100.0))
}

/// The README table: one row per evaluation.
pub fn summary_table(results: &[Evaluation]) -> String {
    let mut s = String::from(
        "| data | lang | intents | train | test | accuracy % | macro-F1 % | in-scope acc % | OOS recall % | OOS precision % | answered @ chosen threshold (precision %) | in-scope answered % @95% / @97% / @98% precision | fit s | embed texts/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let rep = &r.report;
        let at = |target: f32| {
            rep.coverage_at_precision
                .iter()
                .find(|(t, _)| (*t - target).abs() < 1e-6)
                .and_then(|(_, p)| p.map(|p| p.in_scope_coverage))
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} ({:.1}) | {} / {} / {} | {:.1} | {} |\n",
            r.name,
            r.locale,
            r.intents,
            r.train_examples,
            r.test_examples,
            pct(Some(rep.accuracy)),
            pct(Some(rep.macro_f1)),
            pct(rep.in_scope_accuracy),
            pct(rep.oos_recall),
            pct(rep.oos_precision),
            r.chosen_threshold.coverage * 100.0,
            r.chosen_threshold.precision * 100.0,
            pct(at(0.95)),
            pct(at(0.97)),
            pct(at(0.98)),
            r.train_seconds,
            r.embed_texts_per_second.map_or("cached".into(), |v| format!("{v:.0}")),
        ));
    }
    s
}

/// Small stratified subsets for the smoke run: a few examples per intent and split.
fn subsample(mut d: Dataset) -> Dataset {
    fn take(examples: &[Example], per_label: usize) -> Vec<Example> {
        let mut seen: HashMap<Option<String>, usize> = HashMap::new();
        examples
            .iter()
            .filter(|e| {
                let n = seen.entry(e.label.clone()).or_default();
                *n += 1;
                *n <= if e.label.is_none() {
                    per_label * 3
                } else {
                    per_label
                }
            })
            .cloned()
            .collect()
    }
    d.train = take(&d.train, 6);
    d.dev = take(&d.dev, 2);
    d.test = take(&d.test, 2);
    d
}

/// `eval --conversations DIR`: plays the suite through an in-process bot on a temporary database.
fn run_conversations(paths: &Paths, dir: &std::path::Path, args: &EvalArgs) -> anyhow::Result<()> {
    let scripts = load_suite(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let bot = LocalBot::start(paths, None).await?;
        eprintln!(
            "playing {} conversations from {}…",
            scripts.len(),
            dir.display()
        );
        let report = play_suite(&bot.state.conversations, &scripts).await;
        bot.close().await;
        anyhow::Ok(report)
    })?;
    print!("{}", report.failures());
    println!("{}", report.table());
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)?;
        std::fs::write(
            out.join("conversations.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        std::fs::write(out.join("conversations.md"), report.table())?;
    }
    let rate = report.pass_rate();
    anyhow::ensure!(
        rate >= args.min_pass_rate,
        "{:.1} % of the conversations passed, below the required {:.1} %",
        100.0 * rate,
        100.0 * args.min_pass_rate
    );
    Ok(())
}
