//! `madoguchi backup PATH`: an online, consistent copy of the SQLite database into a new file
//! (SQLite's `VACUUM INTO`; `serve` keeps running). Never overwrites a file. PostgreSQL databases
//! are backed up with `pg_dump` (the command says how).
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::store::{Store, PG_DUMP_HINT};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write (it must not exist).
    pub path: PathBuf,
    /// Database URL: `sqlite://PATH` (the one `serve` uses).
    #[arg(
        long,
        env = "MADOGUCHI_DATABASE",
        default_value = "sqlite://data/madoguchi.db"
    )]
    pub database: String,
}

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(backup(&args))?;
    let size = std::fs::metadata(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?
        .len();
    println!("backed up to {} ({size} bytes)", args.path.display());
    Ok(())
}

async fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let Some(file) = sqlite_file(&args.database) else {
        anyhow::bail!("`madoguchi backup` copies SQLite databases; {PG_DUMP_HINT}");
    };
    // Connecting would create a missing file: a typo must not back up an empty database.
    anyhow::ensure!(
        std::path::Path::new(file).is_file(),
        "there is no database at {file}"
    );
    let store = Store::connect(&args.database)
        .await
        .context("cannot open the database")?;
    let done = store
        .backup_into(&args.path)
        .await
        .with_context(|| format!("cannot back up into {}", args.path.display()));
    store.close().await;
    done
}

/// The file of a `sqlite://PATH` or `sqlite:PATH` URL (without its `?options`).
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().filter(|f| !f.is_empty())
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://data/m.db"), Some("data/m.db"));
        assert_eq!(
            sqlite_file("sqlite:///tmp/m.db?mode=rwc"),
            Some("/tmp/m.db")
        );
        assert_eq!(sqlite_file("sqlite:m.db"), Some("m.db"));
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
        assert_eq!(sqlite_file("sqlite://"), None);
    }
}
