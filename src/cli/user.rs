//! `madoguchi user …`: people's accounts for the agent console. `add` and `passwd` read the
//! password from a prompt (twice, not echoed) on a terminal, or one line of stdin otherwise.
use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::database::open_migrated;
use crate::domain::AccountRole;
use crate::store::{NewAccount, Store};
use crate::web::console::password::hash_password;

#[derive(Debug, Args)]
pub struct Database {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB` (the one `serve` uses).
    #[arg(
        long,
        env = "MADOGUCHI_DATABASE",
        default_value = "sqlite://data/madoguchi.db"
    )]
    pub database: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (password from a prompt, or stdin when it is not a terminal).
    Add {
        name: String,
        /// agent (works tickets), lead (also every ticket, the studio), admin (also accounts).
        #[arg(long, value_parser = parse_role)]
        role: AccountRole,
        /// Shown to customers ("担当の〇〇がご対応します"); default: the name.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        db: Database,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        db: Database,
    },
    /// Disable an account (its sessions end at once).
    Disable {
        name: String,
        #[command(flatten)]
        db: Database,
    },
    /// Set a new password (the account's sessions end).
    Passwd {
        name: String,
        #[command(flatten)]
        db: Database,
    },
}

fn parse_role(text: &str) -> Result<AccountRole, String> {
    AccountRole::parse(text)
        .ok_or_else(|| format!("unknown role {text:?}; use agent, lead or admin"))
}

async fn open(db: &Database) -> anyhow::Result<Store> {
    open_migrated(&db.database).await
}

/// The new password: prompted twice on a terminal, else the first line of stdin.
fn read_password(name: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn run(cmd: UserCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(cmd))
}

async fn run_async(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            display_name,
            db,
        } => {
            let store = open(&db).await?;
            let hash = hash_password(&read_password(&name)?)?;
            let display_name = display_name.unwrap_or_else(|| name.clone());
            let account = store
                .create_account(NewAccount {
                    name: &name,
                    display_name: &display_name,
                    role,
                    password_hash: &hash,
                })
                .await?;
            println!("added {} ({})", account.name, account.role);
        }
        UserCommand::List { db } => {
            let store = open(&db).await?;
            for a in store.accounts().await? {
                let state = if a.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}", a.name, a.role, state, a.display_name);
            }
        }
        UserCommand::Disable { name, db } => {
            let store = open(&db).await?;
            store
                .set_account_disabled(&name, true)
                .await?
                .with_context(|| format!("no account named {name:?}"))?;
            println!("disabled {name}");
        }
        UserCommand::Passwd { name, db } => {
            let store = open(&db).await?;
            anyhow::ensure!(
                store.account(&name).await?.is_some(),
                "no account named {name:?}"
            );
            let hash = hash_password(&read_password(&name)?)?;
            store.set_account_password(&name, &hash).await?;
            println!("password changed for {name}; their sessions have ended");
        }
    }
    Ok(())
}
