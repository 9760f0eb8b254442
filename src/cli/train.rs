//! `madoguchi train`
use std::time::Instant;

use clap::Args;

use super::Paths;
use crate::nlu::cache::EmbeddingCache;
use crate::nlu::finetune::delta::TrainedOn;
use crate::nlu::finetune::train::{finetune_texts, peak_rss_mib, FinetuneRequest};
use crate::nlu::fit::FitOptions;
use crate::nlu::train::{train_catalog, TrainRequest};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Held-out precision the answer threshold is chosen for.
    #[arg(long, default_value_t = 0.95)]
    pub target_precision: f32,
    /// Ambiguity margin between the top two intents.
    #[arg(long, default_value_t = 0.1)]
    pub margin: f32,
    /// Minimum held-out out-of-scope recall the out-of-scope gate is tuned for.
    #[arg(long, default_value_t = FitOptions::default().min_out_of_scope_recall)]
    pub min_oos_recall: f32,
    /// Cross-validation folds for calibration.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Hidden layer width of the head (0 = linear head).
    #[arg(long, default_value_t = 0)]
    pub hidden: usize,
    /// Training epochs of the head.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Do not print a progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Fine-tune the encoder's top layers on the catalog first (minutes, not seconds); the new
    /// version then holds the fine-tuned layers, and head-only retrains reuse them.
    #[arg(long)]
    pub finetune: bool,
    #[command(flatten)]
    pub finetune_args: super::eval::FinetuneArgs,
}

pub fn run(paths: &Paths, args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (catalog, data, warnings) = crate::catalog::load(&paths.intents, &paths.training_data)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let (encoder, encoder_dir) = if args.finetune {
        finetune(paths, &catalog, &data, &args.finetune_args)?
    } else {
        paths.load_encoder()?
    };
    let mut cache = EmbeddingCache::open(&paths.cache_dir(), &encoder)?;
    let mut options = FitOptions {
        target_precision: args.target_precision,
        margin: args.margin,
        min_out_of_scope_recall: args.min_oos_recall,
        folds: args.folds,
        ..Default::default()
    };
    options.head.hidden = (args.hidden > 0).then_some(args.hidden);
    options.head.epochs = args.epochs;
    let mut sources: Vec<std::path::PathBuf> =
        catalog.intents.iter().map(|i| i.source.clone()).collect();
    let mut data_files: Vec<_> = data
        .examples
        .iter()
        .map(|u| u.path.as_ref().clone())
        .collect();
    data_files.dedup();
    sources.extend(data_files);
    let weights = encoder_dir.join("model.safetensors");
    let encoder_trained_on =
        TrainedOn::of_encoder(crate::nlu::Encoder::fingerprint(&encoder), &paths.models)?;
    let calibrated_on = if encoder_trained_on.is_some() {
        " the fine-tuned encoder never trained on"
    } else {
        ""
    };
    let model = train_catalog(
        &catalog,
        &data,
        TrainRequest {
            encoder: &encoder,
            encoder_weights: Some(&weights),
            cache: &mut cache,
            options,
            source_files: sources,
            progress: !args.quiet,
            encoder_trained_on,
        },
    )?;
    let dir = model.save(&paths.models)?;
    let m = &model.manifest.metrics;
    let c = &m.calibration;
    println!(
        "trained {} on {} utterances ({} out of scope), {} intents",
        model.manifest.version,
        m.examples,
        m.out_of_scope_examples,
        model.manifest.intents.len()
    );
    println!(
        "cross-validated on {} examples{calibrated_on}: top-1 accuracy {:.1}%, answers {:.1}% of messages at {:.1}% precision (target {:.0}%{})",
        c.examples,
        c.accuracy * 100.0,
        c.coverage * 100.0,
        c.precision * 100.0,
        args.target_precision * 100.0,
        if c.target_met { "" } else { ", NOT met" }
    );
    println!(
        "thresholds: answer ≥ {:.2}, similarity ≥ {:.3}, margin {:.2}; temperature {:.3}",
        model.manifest.thresholds.answer,
        model.manifest.thresholds.similarity,
        model.manifest.thresholds.margin,
        model.manifest.temperature
    );
    println!(
        "time: {:.1}s total (embedding {:.1}s for {} new texts, fitting {:.1}s) → {}",
        started.elapsed().as_secs_f64(),
        m.embed_seconds,
        m.new_texts_embedded,
        m.fit_seconds,
        dir.display()
    );
    println!(
        "not published: a running service keeps its model until `madoguchi model publish {} --database URL` (or the studio)",
        model.manifest.version
    );
    Ok(())
}

/// Fine-tunes the published encoder on the catalog's training data (`train --finetune`).
fn finetune(
    paths: &Paths,
    catalog: &crate::catalog::Catalog,
    data: &crate::catalog::TrainingSet,
    args: &super::eval::FinetuneArgs,
) -> anyhow::Result<(crate::nlu::BertEncoder, std::path::PathBuf)> {
    let (base, dir) = paths.load_base_encoder()?;
    let names = catalog.names();
    let (texts, labels) = data.texts_and_labels(&names);
    let options = args.options();
    let request = FinetuneRequest {
        base: &base,
        encoder_dir: &dir,
        encoder_options: paths.encoder_options(),
        options: &options,
        models_dir: &paths.models,
    };
    let tuned = finetune_texts(request, &texts, &labels, names.len())?;
    let r = &tuned.report;
    println!(
        "fine-tuned the top {} layers: held-out accuracy {} (kept epoch {}), {:.0} s frozen layers + {:.0} s training, peak RSS {}",
        options.layers,
        r.held_out_accuracy
            .iter()
            .map(|a| format!("{:.1}%", a * 100.0))
            .collect::<Vec<_>>()
            .join(" → "),
        r.best_epoch,
        tuned.lower_seconds,
        r.seconds,
        peak_rss_mib().map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    Ok((tuned.encoder, dir))
}
