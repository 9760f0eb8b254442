//! The dialogue engine, [`Dialogue`]: configuration, compiled templates, entity patterns and word
//! lists, built once at startup (or on a catalog reload) and shared by every conversation. The
//! decision itself is in `policy`, the handoff summary in `summary`.
use std::collections::BTreeMap;
use std::path::Path;

use super::config::DialogueConfig;
use super::context::Context;
use super::entities::EntityExtractor;
use super::error::DialogueError;
use super::hours::BusinessHours;
use super::respond::Responder;
use super::signals::Signals;
use crate::catalog::{Catalog, HandoffMode, VariableSpec};
use crate::domain::{IntentName, Locale};

/// What the policy needs to know of an intent.
#[derive(Debug, Clone)]
pub(super) struct IntentInfo {
    pub(super) handoff: HandoffMode,
    pub(super) variables: BTreeMap<String, VariableSpec>,
    /// Facet values under which an `always` intent answers instead of handing off.
    pub(super) answered_when: BTreeMap<String, Vec<String>>,
}

/// The dialogue engine: configuration, compiled templates, entity patterns and word lists, built
/// once at startup (or on a catalog reload) and shared by every conversation.
pub struct Dialogue {
    pub(super) config: DialogueConfig,
    pub(super) responder: Responder,
    pub(super) extractor: EntityExtractor,
    pub(super) signals: Signals,
    pub(super) context: Context,
    pub(super) intents: BTreeMap<IntentName, IntentInfo>,
    pub(super) locales: Vec<Locale>,
}

impl Dialogue {
    /// Checks `config` against `catalog` and compiles everything; every problem is reported at once.
    pub fn new(catalog: &Catalog, config: DialogueConfig) -> Result<Self, DialogueError> {
        let mut problems = config.check(catalog);
        let extractor = match EntityExtractor::new(&config.entities, &config.entities_source) {
            Ok(x) => Some(x),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        let responder = match Responder::new(catalog, &config) {
            Ok(r) => Some(r),
            Err(DialogueError::Invalid(p)) => {
                problems.extend(p);
                None
            }
            Err(e) => return Err(e),
        };
        let (Some(extractor), Some(responder), true) = (extractor, responder, problems.is_empty())
        else {
            return Err(DialogueError::Invalid(problems));
        };
        Ok(Self {
            signals: Signals::new(&config),
            context: Context::new(&config.context),
            config,
            responder,
            extractor,
            intents: intent_infos(catalog),
            locales: catalog.locales.clone(),
        })
    }

    /// Reads `_dialogue.yaml` and `_entities.yaml` from `intents_dir` and builds the engine.
    pub fn load(catalog: &Catalog, intents_dir: &Path) -> Result<Self, DialogueError> {
        Self::new(catalog, DialogueConfig::load(intents_dir)?)
    }

    /// What the classifier reads of a customer message: the request after any greeting it opens
    /// with ("hello, my order is late" is about the order, not a greeting).
    pub fn classification_text<'t>(&self, text: &'t str) -> &'t str {
        self.context.request_after_greeting(text).unwrap_or(text)
    }

    /// The sentences of a message that asks more than one thing, each to be classified on its
    /// own (see [`TurnInput::sentences`]); empty for a message of one sentence of substance.
    pub fn sentences<'t>(&self, text: &'t str) -> Vec<&'t str> {
        self.context.sentences(self.classification_text(text))
    }

    pub fn config(&self) -> &DialogueConfig {
        &self.config
    }

    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    pub fn extractor(&self) -> &EntityExtractor {
        &self.extractor
    }

    pub fn business_hours(&self) -> Option<&BusinessHours> {
        self.config.business_hours.as_ref()
    }
}

fn intent_infos(catalog: &Catalog) -> BTreeMap<IntentName, IntentInfo> {
    catalog
        .intents
        .iter()
        .map(|i| {
            let info = IntentInfo {
                handoff: i.handoff,
                variables: i.variables.clone(),
                answered_when: i.answered_when.clone(),
            };
            (i.name.clone(), info)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_can_be_shared_between_request_handlers() {
        fn shared<T: Send + Sync>() {}
        shared::<Dialogue>();
    }
}
