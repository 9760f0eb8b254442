//! `madoguchi bench`: latency, throughput, training time and memory with the real encoder, printed as
//! a Markdown table (and saved as JSON with `--json`). Figures from one run are comparable with each
//! other; compare across runs with care, the machine is shared.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::Paths;
use crate::nlu::cache::EmbeddingCache;
use crate::nlu::finetune::delta::{self, TrainedOn};
use crate::nlu::fit::FitOptions;
use crate::nlu::kernels::dispatch::cpu_flags;
use crate::nlu::kernels::speed::{linear_gflops, peak_gflops_per_core};
use crate::nlu::kernels::{Kernels, Pool};
use crate::nlu::train::{train_catalog, TrainRequest};
use crate::nlu::{Classifier, Encoder, TrainedModel};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Messages to classify, one per line.
    #[arg(long, default_value = "../shared/bench/messages.txt")]
    pub messages: PathBuf,
    /// Batch size for the throughput measurement.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Skip the (slow) cold training measurement.
    #[arg(long)]
    pub skip_cold_train: bool,
    /// Also time candle-transformers' reference BERT on the same messages (same run, for a ratio).
    #[arg(long)]
    pub reference: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    messages: usize,
    mean_tokens: f64,
    single_p50_ms: f64,
    single_p90_ms: f64,
    single_p99_ms: f64,
    batch: usize,
    batch_messages_per_second: f64,
    train_cold_seconds: Option<f64>,
    train_warm_seconds: f64,
    peak_rss_inference_mib: f64,
    peak_rss_total_mib: f64,
    threads: usize,
    /// p50 of candle-transformers' BertModel on the same messages (encoder only, `--reference`).
    reference_single_p50_ms: Option<f64>,
    /// p50 of our encoder alone on the same messages, for the ratio with the reference.
    encoder_single_p50_ms: Option<f64>,
    /// The encoder's kernels, e.g. `int8/avx512-vnni` (`--precision`, `--cpu`).
    kernels: String,
    /// The CPU features the kernels can use that this machine has.
    cpu_flags: String,
    /// Speed of the linear layers at the encoder's shapes, on all threads.
    kernel_gflops: Vec<KernelSpeed>,
    /// The machine's peak for the kernels' multiply-add instruction, all threads (measured).
    peak_gflops: Option<f64>,
}

#[derive(Debug, Serialize)]
struct KernelSpeed {
    layer: &'static str,
    rows: usize,
    inputs: usize,
    outputs: usize,
    gflops: f64,
}

pub fn run(paths: &Paths, args: BenchArgs) -> anyhow::Result<()> {
    let text = read_messages(&args.messages)?;
    let messages: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    anyhow::ensure!(
        !messages.is_empty(),
        "{} has no messages",
        args.messages.display()
    );
    let (encoder, encoder_dir) = paths.load_encoder()?;
    let encoder: Arc<dyn Encoder> = Arc::new(encoder);
    let model = TrainedModel::load_current(&paths.models)?;
    let classifier = Classifier::new(encoder.clone(), model, &paths.models)?;
    let tokens: usize = messages
        .iter()
        .map(|m| encoder.token_count(m))
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .sum();

    let latencies = single_latencies(&classifier, &messages)?;
    let throughput = batch_throughput(&classifier, &messages, args.batch)?;
    let peak_inference = peak_rss_mib();
    let (reference_p50, encoder_p50) = if args.reference {
        let (theirs, ours) = reference_p50s(encoder.as_ref(), &encoder_dir, &messages)?;
        (Some(theirs), Some(ours))
    } else {
        (None, None)
    };
    let (warm, cold) = training_seconds(paths, &encoder, &encoder_dir, args.skip_cold_train)?;
    let kernels = encoder.kernels().unwrap_or_else(Kernels::f32);
    let mean_tokens = tokens as f64 / messages.len() as f64;
    let (kernel_gflops, peak_gflops) =
        kernel_speeds(kernels, encoder.dim(), mean_tokens, paths.batch_tokens);

    let report = BenchReport {
        messages: messages.len(),
        mean_tokens,
        single_p50_ms: percentile(&latencies, 0.50),
        single_p90_ms: percentile(&latencies, 0.90),
        single_p99_ms: percentile(&latencies, 0.99),
        batch: args.batch,
        batch_messages_per_second: throughput,
        train_cold_seconds: cold,
        train_warm_seconds: warm,
        peak_rss_inference_mib: peak_inference,
        peak_rss_total_mib: peak_rss_mib(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        reference_single_p50_ms: reference_p50,
        encoder_single_p50_ms: encoder_p50,
        kernels: kernels.describe(),
        cpu_flags: cpu_flags(),
        kernel_gflops,
        peak_gflops,
    };
    print_table(&report, &args.messages);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

/// GFLOP/s of the encoder's four linear layers for one message (`mean_tokens` rows) and of the
/// feed-forward layer for a full forward pass (`batch_tokens` rows), with the kernels of the
/// encoder; and the machine's peak.
fn kernel_speeds(
    kernels: Kernels,
    hidden: usize,
    mean_tokens: f64,
    batch_tokens: usize,
) -> (Vec<KernelSpeed>, Option<f64>) {
    let pool = Pool::per_core();
    let one = (mean_tokens.round() as usize).max(1);
    let ff = 4 * hidden;
    let shapes = [
        ("QKV", one, hidden, 3 * hidden),
        ("attention out", one, hidden, hidden),
        ("feed-forward in", one, hidden, ff),
        ("feed-forward out", one, ff, hidden),
        ("feed-forward in, batch", batch_tokens.max(1), hidden, ff),
    ];
    let speeds = shapes
        .iter()
        .map(|&(layer, rows, inputs, outputs)| KernelSpeed {
            layer,
            rows,
            inputs,
            outputs,
            gflops: linear_gflops(kernels, &pool, rows, outputs, inputs),
        })
        .collect();
    let peak = peak_gflops_per_core(kernels).map(|p| p * pool.threads() as f64);
    (speeds, peak)
}

fn read_messages(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e} (pass --messages FILE)", path.display()))
}

/// Milliseconds to classify each message alone, sorted (after a warm-up of caches and allocator).
fn single_latencies(classifier: &Classifier, messages: &[&str]) -> anyhow::Result<Vec<f64>> {
    for m in messages.iter().take(8) {
        classifier.classify(&[m])?;
    }
    let mut latencies = Vec::with_capacity(messages.len());
    for m in messages {
        let t = Instant::now();
        classifier.classify(&[m])?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Messages per second, classified `batch` at a time.
fn batch_throughput(
    classifier: &Classifier,
    messages: &[&str],
    batch: usize,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    for chunk in messages.chunks(batch.max(1)) {
        classifier.classify(chunk)?;
    }
    Ok(messages.len() as f64 / t.elapsed().as_secs_f64())
}

/// p50 milliseconds of candle-transformers' reference BERT and of our encoder alone, one message
/// at a time.
fn reference_p50s(
    encoder: &dyn Encoder,
    encoder_dir: &std::path::Path,
    messages: &[&str],
) -> anyhow::Result<(f64, f64)> {
    let ours = time_each(messages, |m| {
        encoder.embed(&[m]).map(|_| ()).map_err(Into::into)
    })?;
    let reference = reference_encoder(encoder_dir)?;
    let theirs = time_each(messages, |m| reference(m))?;
    Ok((percentile(&theirs, 0.5), percentile(&ours, 0.5)))
}

/// Seconds to train the catalog: warm (every text already in the cache) and, unless skipped, cold
/// (an empty cache).
fn training_seconds(
    paths: &Paths,
    encoder: &Arc<dyn Encoder>,
    encoder_dir: &std::path::Path,
    skip_cold: bool,
) -> anyhow::Result<(f64, Option<f64>)> {
    let (catalog, data, _) = crate::catalog::load(&paths.intents, &paths.training_data)?;
    let weights = encoder_dir.join("model.safetensors");
    let trained_on = TrainedOn::of_encoder(encoder.fingerprint(), &paths.models)?;
    // Versions are written as `train` writes them, but into a scratch directory (saving moves
    // `current`), which needs the fine-tuned layers the version will hold.
    let scratch = tempfile_dir()?;
    delta::share(encoder.fingerprint(), &paths.models, &scratch)?;
    let train_with = |cache: &mut EmbeddingCache| -> anyhow::Result<f64> {
        let t = Instant::now();
        let model = train_catalog(
            &catalog,
            &data,
            TrainRequest {
                encoder: encoder.as_ref(),
                encoder_weights: Some(&weights),
                cache,
                options: FitOptions::default(),
                source_files: Vec::new(),
                progress: false,
                encoder_trained_on: trained_on.clone(),
            },
        )?;
        let version = model.save(&scratch)?;
        let seconds = t.elapsed().as_secs_f64();
        std::fs::remove_dir_all(&version).ok();
        Ok(seconds)
    };
    let timings = (|| {
        let mut warm_cache = EmbeddingCache::open(&paths.cache_dir(), encoder.as_ref())?;
        train_with(&mut warm_cache)?; // make sure every text is cached
        let warm = train_with(&mut warm_cache)?;
        let cold = if skip_cold {
            None
        } else {
            Some(train_with(&mut EmbeddingCache::in_memory(encoder.dim()))?)
        };
        Ok((warm, cold))
    })();
    std::fs::remove_dir_all(&scratch).ok();
    timings
}

fn print_table(r: &BenchReport, messages: &std::path::Path) {
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| messages ({}) | {} (mean {:.1} tokens) |",
        messages.display(),
        r.messages,
        r.mean_tokens
    );
    println!("| classify one message, p50 | {:.2} ms |", r.single_p50_ms);
    println!("| classify one message, p90 | {:.2} ms |", r.single_p90_ms);
    println!("| classify one message, p99 | {:.2} ms |", r.single_p99_ms);
    println!(
        "| throughput at batch {} | {:.0} messages/s |",
        r.batch, r.batch_messages_per_second
    );
    match r.train_cold_seconds {
        Some(c) => println!("| train default catalog, cold cache | {c:.1} s |"),
        None => println!("| train default catalog, cold cache | skipped |"),
    }
    println!(
        "| train default catalog, warm cache | {:.2} s |",
        r.train_warm_seconds
    );
    println!(
        "| peak RSS after inference | {:.0} MiB |",
        r.peak_rss_inference_mib
    );
    println!("| peak RSS overall | {:.0} MiB |", r.peak_rss_total_mib);
    println!("| CPU threads | {} |", r.threads);
    println!("| kernels | {} |", r.kernels);
    println!("| CPU flags | {} |", r.cpu_flags);
    let peak = r
        .peak_gflops
        .map_or_else(String::new, |p| format!(" (peak {p:.0})"));
    for k in &r.kernel_gflops {
        println!(
            "| GFLOP/s, {} ({}×{}→{}) | {:.0}{peak} |",
            k.layer, k.rows, k.inputs, k.outputs, k.gflops
        );
    }
    if let (Some(reference), Some(ours)) = (r.reference_single_p50_ms, r.encoder_single_p50_ms) {
        println!(
            "| encoder alone, p50: ours / candle-transformers BertModel | {ours:.2} ms / {reference:.2} ms ({:.2}× faster) |",
            reference / ours
        );
    }
}

/// Milliseconds per call of `f` on each message (after a short warm-up), sorted.
fn time_each(
    messages: &[&str],
    f: impl Fn(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    for m in messages.iter().take(4) {
        f(m)?;
    }
    let mut ms = Vec::with_capacity(messages.len());
    for m in messages {
        let t = Instant::now();
        f(m)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// candle-transformers' BERT with the same weights, tokenizer, prefix and pooling: the baseline.
fn reference_encoder(dir: &std::path::Path) -> anyhow::Result<impl Fn(&str) -> anyhow::Result<()>> {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let tokenizer =
        tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(anyhow::Error::msg)?;
    // SAFETY: read-only mapping of a file madoguchi does not modify.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )?
    };
    let model = BertModel::load(vb, &config)?;
    Ok(move |text: &str| -> anyhow::Result<()> {
        let enc = tokenizer
            .encode(format!("query: {text}"), true)
            .map_err(anyhow::Error::msg)?;
        let ids = Tensor::new(enc.get_ids(), &Device::Cpu)?.unsqueeze(0)?;
        let mask = ids.ones_like()?;
        let hidden = model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
        crate::nlu::encoder::masked_mean_l2(&hidden, &mask)?;
        Ok(())
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Peak resident set size of this process (VmHWM), in MiB; 0 where /proc is not available.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("madoguchi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
