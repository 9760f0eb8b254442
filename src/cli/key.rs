//! `madoguchi key …`: named API keys with scopes (`classify`, `agent`, `admin`). `create` prints
//! the key once (only its SHA-256 is stored); `list` shows every key with its last use; `revoke`
//! ends a key at once, on every replica.
use anyhow::Context;
use clap::Subcommand;

use super::database::open_migrated;
use super::user::Database;
use crate::store::{ApiKey, ApiScope, Store};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it (shown this once).
    Create {
        /// A name for the key (1–64 characters; unique among live keys), e.g. `crm-integration`.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: classify (`/v1/classify`), agent (`/v1/handoffs`), admin (keys,
        /// and `/metrics` and `/docs` when restricted).
        #[arg(long)]
        scope: String,
        #[command(flatten)]
        db: Database,
    },
    /// List the keys (never the keys themselves).
    List {
        #[command(flatten)]
        db: Database,
    },
    /// Revoke the live key with this name or id.
    Revoke {
        /// The key's name or id.
        key: String,
        #[command(flatten)]
        db: Database,
    },
}

async fn open(db: &Database) -> anyhow::Result<Store> {
    open_migrated(&db.database).await
}

pub fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(cmd))
}

fn scopes(key: &ApiKey) -> String {
    let names: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    names.join(",")
}

fn when(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

async fn run_async(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create { name, scope, db } => {
            let scopes = ApiScope::parse_list(&scope)?;
            let store = open(&db).await?;
            let created = store.create_api_key(&name, &scopes).await?;
            eprintln!(
                "created key {} ({}) with scopes {}; it is shown this once, store it now:",
                created.key.name,
                created.key.id,
                self::scopes(&created.key)
            );
            println!("{}", created.secret);
        }
        KeyCommand::List { db } => {
            let store = open(&db).await?;
            println!("id\tname\tscopes\tcreated\tlast_used\tstatus");
            for k in store.api_keys().await? {
                let status = if k.is_live() { "live" } else { "revoked" };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{status}",
                    k.id,
                    k.name,
                    scopes(&k),
                    when(Some(k.created_at)),
                    when(k.last_used_at)
                );
            }
        }
        KeyCommand::Revoke { key, db } => {
            let store = open(&db).await?;
            let revoked = store.revoke_api_key(&key).await?;
            anyhow::ensure!(!revoked.is_empty(), "no live key named {key:?}");
            for k in revoked {
                println!("revoked {} ({})", k.name, k.id);
            }
        }
    }
    Ok(())
}
