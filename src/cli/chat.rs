//! `madoguchi chat`: talk to the local bot in the terminal, in-process (no HTTP), through the same
//! turn as the API: the conversation is stored (a temporary SQLite file unless `--database`).
use std::io::{BufRead, Write};

use anyhow::Context;
use clap::Args;

use super::local::LocalBot;
use super::Paths;
use crate::conversation::TurnReply;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Database URL (default: a temporary SQLite file, deleted at the end).
    #[arg(long, env = "MADOGUCHI_DATABASE")]
    pub database: Option<String>,
    /// The conversation's language (`ja`, `en`, …); detected from each message when absent.
    #[arg(long)]
    pub locale: Option<String>,
    /// Customer metadata as a JSON object, e.g. '{"name": "山田", "order_ids": ["MD-1234"]}'.
    #[arg(long)]
    pub customer: Option<String>,
}

pub fn run(paths: &Paths, args: ChatArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(chat(paths, args))
}

async fn chat(paths: &Paths, args: ChatArgs) -> anyhow::Result<()> {
    let customer = match &args.customer {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .context("--customer must be a JSON object")?,
        ),
        None => None,
    };
    let bot = LocalBot::start(paths, args.database.clone()).await?;
    let state = &bot.state;
    let service = &state.conversations;
    let conversation = service
        .start(args.locale.as_deref(), customer)
        .await?
        .conversation;
    eprintln!(
        "conversation {} — type a message, or an empty line / Ctrl-D to quit",
        conversation.id
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            break;
        }
        match service.customer_turn(&conversation, &line, None).await {
            Ok(turn) => print_turn(&turn),
            Err(e) => println!("error: {e}"),
        }
    }
    bot.close().await;
    Ok(())
}

fn print_turn(turn: &TurnReply) {
    let intent = turn.intent.as_deref().unwrap_or("-");
    match &turn.reply {
        Some(reply) => println!("bot> {reply}"),
        None => println!("bot> (silent: a person has this conversation)"),
    }
    let action = serde_json::to_value(turn.action).unwrap_or_default();
    println!(
        "     [{} · {intent} · {:.2}]",
        action.as_str().unwrap_or("?"),
        turn.confidence
    );
    for (i, q) in turn.quick_replies.iter().enumerate() {
        println!("     {}) {} → send \"{}\"", i + 1, q.label, q.value);
    }
    if let Some(h) = &turn.handoff {
        println!(
            "     handoff: ticket {} ({}), position {}, expected wait {}",
            h.ticket_id,
            h.status,
            h.position.map_or("-".into(), |p| p.to_string()),
            match (h.expected_wait.minutes, &h.expected_wait.next_open) {
                (Some(m), None) => format!("~{m} min"),
                (Some(m), Some(at)) => format!("~{m} min (opens {at})"),
                (None, _) => "unknown".into(),
            }
        );
        if let Some(text) = h.summary.get("text").and_then(|t| t.as_str()) {
            for line in text.lines() {
                println!("     | {line}");
            }
        }
    }
}
