//! The catalog: what the bot knows and says (`intents/`) and what customers say (`training-data/`).
//!
//! Loading never stops at the first mistake: every problem found is collected with the file (and line,
//! where there is one) so a support lead can fix them all in one pass.
//!
//! Files: `intent` (one intent file) and `files` (YAML reading) are leaves; `template` checks an
//! intent's templates; `load` builds the [`Catalog`]; `training` reads the training data against
//! it; `rasa` imports a Rasa project; `writer` writes labelled utterances and intents back (the
//! studio). None imports one above it (`scripts/import-cycles.py`).
mod error;
mod files;
mod intent;
mod load;
pub mod rasa;
mod template;
mod training;
mod writer;

#[cfg(test)]
mod fuzz;

pub use error::{list_problems, CatalogError, Problem};
pub use intent::{HandoffMode, Intent, VariableSpec, Waiver};
pub use load::{check_intent, Catalog, SETTINGS_FILE};
pub use template::check_templates;
pub use training::{dedup_key, TrainingSet, Utterance};
pub use writer::{
    append_examples, item_line, one_line, remove_examples, training_file, write_intent,
};

pub use crate::domain::{IntentName, Locale, OUT_OF_SCOPE};

use std::path::Path;

/// Loads `intents/` and `training-data/` and validates them together.
///
/// Warnings (harmless oddities such as the same utterance twice in one file) are returned beside the
/// data; errors make the whole load fail with every problem listed.
pub fn load(
    intents_dir: &Path,
    training_dir: &Path,
) -> Result<(Catalog, TrainingSet, Vec<Problem>), CatalogError> {
    let mut problems = Vec::new();
    let catalog = Catalog::load(intents_dir, &mut problems)?;
    let mut warnings = Vec::new();
    let training = TrainingSet::load(training_dir, &catalog, &mut problems, &mut warnings)?;
    if problems.is_empty() {
        Ok((catalog, training, warnings))
    } else {
        Err(CatalogError::Invalid(problems))
    }
}
