//! `madoguchi validate`
use clap::Args;

use super::Paths;

#[derive(Debug, Args)]
pub struct ValidateArgs {}

pub fn run(paths: &Paths, _args: ValidateArgs) -> anyhow::Result<()> {
    let (catalog, data, mut warnings) = crate::catalog::load(&paths.intents, &paths.training_data)?;
    // Variations of an intent must answer the same question with the same facts.
    warnings.extend(crate::dialogue::check_variations(&catalog));
    // The dialogue configuration (`_dialogue.yaml`, `_entities.yaml`) and every template against
    // it, as `serve` and `chat` load them: a broken line is found here, not at start-up.
    crate::dialogue::Dialogue::load(&catalog, &paths.intents)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let oos = data.examples.iter().filter(|u| u.intent.is_none()).count();
    println!(
        "ok: {} intents, {} locales ({}), {} utterances ({} out of scope), {} warning(s)",
        catalog.intents.len(),
        catalog.locales.len(),
        catalog
            .locales
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        data.examples.len(),
        oos,
        warnings.len()
    );
    Ok(())
}
