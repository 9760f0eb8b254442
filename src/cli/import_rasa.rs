//! `madoguchi import-rasa`
use std::path::PathBuf;

use clap::Args;

use super::Paths;
use crate::catalog::rasa;

#[derive(Debug, Args)]
pub struct ImportRasaArgs {
    /// Rasa NLU training file (`nlu.yml`, format 2.x/3.x).
    pub nlu: PathBuf,
    /// Language of the examples (a locale of the catalog, e.g. `en`).
    #[arg(long)]
    pub locale: String,
    /// Rasa `domain.yml`: its `utter_<intent>` responses become templates for new intents.
    #[arg(long)]
    pub domain: Option<PathBuf>,
}

pub fn run(paths: &Paths, args: ImportRasaArgs) -> anyhow::Result<()> {
    let summary = rasa::import(
        &args.nlu,
        args.domain.as_deref(),
        &args.locale,
        &paths.intents,
        &paths.training_data,
    )?;
    println!("{summary}");
    println!(
        "next: `madoguchi validate` lists what is still missing (e.g. templates in other locales)"
    );
    Ok(())
}
