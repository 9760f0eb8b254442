//! The `madoguchi` command line: one thin module per subcommand. Each parses its flags, calls into
//! the library, and prints; errors bubble up as `anyhow` to `main`, which prints them and exits 1.
use clap::{Parser, Subcommand};

pub use paths::Paths;

pub mod backup;
pub mod bench;
pub mod chat;
pub mod classify;
mod database;
pub mod erase;
pub mod eval;
pub mod import_rasa;
pub mod key;
mod local;
pub mod model;
pub mod outbox;
mod paths;
pub mod serve;
mod suite;
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Provision encoder models; list, publish, roll back and prune trained versions.
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
    /// Erase one customer's data (conversations, messages, tickets, notes, outbox, inbox, LINE).
    Erase(erase::EraseArgs),
    /// Copy the SQLite database into a new file while the service runs (PostgreSQL: pg_dump).
    Backup(backup::BackupArgs),
    /// Manage API keys with scopes (classify, agent, admin): create, list, revoke.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Model(cmd) => model::run(&cli.paths, cmd),
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
        Command::Erase(args) => erase::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Key(cmd) => key::run(cmd),
    }
}
