//! `madoguchi outbox list`: the webhook outbox of a database — pending and delivered events, and
//! the dead letters a person has to look at (`--dead`).
use anyhow::Context;
use clap::{Args, Subcommand};

use super::database::open_migrated;
use crate::store::OutboxEvent;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List outbox events, newest first, with a count of pending and dead ones.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The service's database URL (`sqlite://PATH` or `postgres://…`).
    #[arg(
        long,
        env = "MADOGUCHI_DATABASE",
        default_value = "sqlite://data/madoguchi.db"
    )]
    pub database: String,
    /// Only dead letters (events given up after their retries).
    #[arg(long)]
    pub dead: bool,
    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: OutboxCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cmd {
        OutboxCommand::List(args) => runtime.block_on(list(args)),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let store = open_migrated(&args.database).await?;
    let stats = store.outbox_stats().await?;
    let events = store.list_outbox(args.dead, args.limit).await?;
    store.close().await;
    if args.json {
        for event in &events {
            println!("{}", serde_json::to_string(&event_json(event))?);
        }
        return Ok(());
    }
    println!(
        "outbox: {} pending, {} delivered, {} dead",
        stats.pending, stats.delivered, stats.dead
    );
    for event in &events {
        println!("{}", line(event));
    }
    Ok(())
}

fn state(event: &OutboxEvent) -> &'static str {
    match (event.delivered_at, event.dead_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "dead",
        (None, None) => "pending",
    }
}

fn line(event: &OutboxEvent) -> String {
    format!(
        "{}  {:<9}  {:<16}  ticket {}  attempts {}  created {}{}",
        event.id,
        state(event),
        event.event,
        event.ticket_id,
        event.attempts,
        event.created_at.format("%Y-%m-%d %H:%M:%S"),
        event
            .last_error
            .as_deref()
            .map(|e| format!("  last error: {e}"))
            .unwrap_or_default()
    )
}

fn event_json(event: &OutboxEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "state": state(event),
        "event": event.event,
        "ticket_id": event.ticket_id,
        "conversation_id": event.conversation_id,
        "attempts": event.attempts,
        "created_at": event.created_at,
        "next_attempt_at": event.next_attempt_at,
        "delivered_at": event.delivered_at,
        "dead_at": event.dead_at,
        "last_error": event.last_error,
    })
}
