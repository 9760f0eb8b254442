//! `madoguchi erase --customer ID`: deletes one customer's data (their conversations, messages,
//! tickets, notes, outbox events, inbox decisions and LINE data) on request, and records who did it
//! in the audit log. The customer id is the `id` of the customer metadata conversations were
//! started with, or a LINE user id.
use anyhow::Context;
use clap::Args;

use super::database::open_migrated;
use crate::store::Erased;

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The customer: the `id` in conversations' customer metadata, or a LINE user id (`U…`).
    #[arg(long)]
    pub customer: String,
    /// Who asked for it, for the audit log (default: the operating-system user).
    #[arg(long)]
    pub actor: Option<String>,
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB` (the one `serve` uses).
    #[arg(
        long,
        env = "MADOGUCHI_DATABASE",
        default_value = "sqlite://data/madoguchi.db"
    )]
    pub database: String,
}

pub fn run(args: EraseArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let erased = runtime.block_on(erase(&args))?;
    println!("{}", summary(&erased));
    Ok(())
}

async fn erase(args: &EraseArgs) -> anyhow::Result<Erased> {
    let customer = args.customer.trim();
    anyhow::ensure!(!customer.is_empty(), "--customer is empty");
    let store = open_migrated(&args.database).await?;
    let actor = args.actor.clone().unwrap_or_else(cli_actor);
    let erased = store
        .erase_customer(customer, &actor)
        .await
        .context("cannot erase the customer's data")?;
    store.close().await;
    Ok(erased)
}

/// `cli:<login name>` (or `cli` when the environment does not say).
fn cli_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|user| format!("cli:{user}"))
        .unwrap_or_else(|_| "cli".into())
}

fn summary(e: &Erased) -> String {
    format!(
        "erased {} conversation(s), {} message(s), {} ticket(s), {} note(s), {} outbox event(s), \
         {} inbox decision(s), {} stream ticket(s), {} LINE event(s), {} LINE deliveries",
        e.conversations,
        e.messages,
        e.tickets,
        e.notes,
        e.outbox_events,
        e.inbox_decisions,
        e.stream_tickets,
        e.line_events,
        e.line_deliveries
    )
}
