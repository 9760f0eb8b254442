//! The `madoguchi` command line: one thin module per subcommand. Each parses its flags, calls into
//! the library, and prints; errors bubble up as `anyhow` to `main`, which prints them and exits 1.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod bench;
pub mod chat;
pub mod classify;
pub mod eval;
pub mod import_rasa;
pub mod model;
pub mod outbox;
pub mod serve;
pub mod train;
pub mod user;
pub mod validate;

#[derive(Debug, Parser)]
#[command(
    name = "madoguchi",
    version,
    about = "窓口 — a self-hosted customer-service chatbot"
)]
pub struct Cli {
    #[command(flatten)]
    pub paths: Paths,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `madoguchi=debug`.
    #[arg(long, global = true, env = "MADOGUCHI_LOG", default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the catalog, the training data and the models live.
#[derive(Debug, Clone, Args)]
pub struct Paths {
    /// Intent definitions (`<name>.yaml`).
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_INTENTS",
        default_value = "intents"
    )]
    pub intents: PathBuf,
    /// Labelled utterances (`<locale>/<intent>.yaml`).
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_TRAINING_DATA",
        default_value = "training-data"
    )]
    pub training_data: PathBuf,
    /// Trained model versions and `current`.
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_MODELS",
        default_value = "models"
    )]
    pub models: PathBuf,
    /// Encoder: a directory with config.json, model.safetensors and tokenizer.json, or a Hugging
    /// Face Hub id (fetched with hf-hub; honours HF_HUB_OFFLINE).
    #[arg(long, global = true, env = "MADOGUCHI_ENCODER", default_value = crate::nlu::source::DEFAULT_ENCODER_DIR)]
    pub encoder: String,
    /// Embedding cache (default: `<models>/cache`).
    #[arg(long, global = true, env = "MADOGUCHI_CACHE")]
    pub cache: Option<PathBuf>,
    /// At most this many texts per encoder forward pass.
    #[arg(long, global = true, env = "MADOGUCHI_BATCH_SIZE",
        default_value_t = crate::nlu::encoder::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// At most this many tokens (padding included) per encoder forward pass: passes whose
    /// activations fit the core's L2 cache are fastest.
    #[arg(long, global = true, env = "MADOGUCHI_BATCH_TOKENS",
        default_value_t = crate::nlu::encoder::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Provision encoder models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Check intents/ and training-data/ and report every problem with file and line.
    Validate(validate::ValidateArgs),
    /// Train the intent classifier on the catalog and write a new model version.
    Train(train::TrainArgs),
    /// Evaluate: cross-validation on the catalog and the public benchmarks.
    Eval(eval::EvalArgs),
    /// Classify messages read from stdin, one per line.
    Classify(classify::ClassifyArgs),
    /// Measure encoder latency, throughput, training time and memory.
    Bench(bench::BenchArgs),
    /// Import a Rasa NLU file (intents and examples) into training-data/ and intents/.
    ImportRasa(import_rasa::ImportRasaArgs),
    /// Run the HTTP service (customer, agent and developer APIs).
    Serve(Box<serve::ServeCmd>),
    /// Chat with the local bot in the terminal.
    Chat(chat::ChatArgs),
    /// Inspect the webhook outbox (pending, delivered and dead-letter events).
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Manage the agent console's accounts (agent, lead, admin).
    #[command(subcommand)]
    User(user::UserCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Model(cmd) => model::run(cmd),
        Command::Validate(args) => validate::run(&cli.paths, args),
        Command::Train(args) => train::run(&cli.paths, args),
        Command::Eval(args) => eval::run(&cli.paths, args),
        Command::Classify(args) => classify::run(&cli.paths, args),
        Command::Bench(args) => bench::run(&cli.paths, args),
        Command::ImportRasa(args) => import_rasa::run(&cli.paths, args),
        Command::Serve(cmd) => serve::run(&cli.paths, *cmd),
        Command::Chat(args) => chat::run(&cli.paths, args),
        Command::Outbox(cmd) => outbox::run(cmd),
        Command::User(cmd) => user::run(cmd),
    }
}

impl Paths {
    /// Loads the configured encoder (resolving a Hub id if needed).
    pub fn load_encoder(&self) -> anyhow::Result<(crate::nlu::BertEncoder, PathBuf)> {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let dir = crate::nlu::source::resolve_encoder(&self.encoder, offline)?;
        let options = crate::nlu::EncoderOptions {
            batch_size: self.batch_size,
            batch_tokens: self.batch_tokens,
            ..Default::default()
        };
        let encoder = crate::nlu::BertEncoder::from_dir(&dir, options)?;
        Ok((encoder, dir))
    }

    /// The embedding cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| self.models.join("cache"))
    }
}
