//! `madoguchi chat`: talk to the local bot in the terminal, in-process (no HTTP), through the same
//! turn as the API: the conversation is stored (a temporary SQLite file unless `--database`).
use std::io::{BufRead, Write};

use anyhow::Context;
use clap::Args;

use super::serve::{build_state, classifier_loader};
use super::Paths;
use crate::config::Config;
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
    let temp = tempdir_path()?;
    let database = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", temp.join("chat.db").display()),
    };
    let customer = match &args.customer {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .context("--customer must be a JSON object")?,
        ),
        None => None,
    };
    let config = Config {
        database,
        ..Config::default()
    };
    let (state, _stop, loaded) = build_state(paths, config, classifier_loader(paths)).await?;
    eprintln!("loading the model…");
    loaded
        .await
        .context("the inference thread stopped")?
        .map_err(|e| anyhow::anyhow!("cannot load the classifier: {e}"))?;
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
    state.store.close().await;
    let _ = std::fs::remove_dir_all(&temp);
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

/// A fresh private directory under the system temp dir.
fn tempdir_path() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("madoguchi-chat-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
