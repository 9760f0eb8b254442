//! The per-turn decision: given a customer message and its classification, answer from the intent's
//! templates, ask which of two intents was meant, ask for a detail the answer needs, or hand the
//! conversation to a person with a summary. Pure logic: no HTTP, no SQL, no tensors; the service
//! classifies, calls [`Dialogue::turn`], then stores the [`DialogueState`] (JSON) and the [`BotTurn`].
//!
//! - `policy`: the decision itself, [`Dialogue::turn`] (explicit requests, frustration, choices,
//!   slots, misses, handoffs).
//! - `respond`: the minijinja environment ([`Responder`]: intent templates and the bot's own lines),
//!   checked at startup.
//! - `entities`: order numbers, e-mails, phones, dates, tracking numbers ([`EntityExtractor`]).
//! - `signals`: explicit requests for a person, sentiment and frustration ([`Signals`]).
//! - `summary`: the [`HandoffSummary`] for agents; `hours`: [`BusinessHours`].
//! - `config`: `intents/_dialogue.yaml` (wording per locale, policy knobs) and `_entities.yaml`
//!   ([`DialogueConfig`]); `state`: the per-conversation [`DialogueState`].
//!
//! Every word the bot says is catalog data: the code never branches on a locale.
mod config;
mod entities;
mod error;
mod hours;
mod policy;
mod respond;
mod signals;
mod state;
mod summary;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use config::{
    DialogueConfig, FrustrationConfig, FrustrationWeights, HandoffLines, LanguageConfig, Lines,
    LocaleText, PolicyConfig, ReasonLabels, Script, SentimentLabels, SentimentWords, SummaryText,
    DIALOGUE_FILE, ENTITIES_FILE, METADATA_VARIABLES,
};
pub use entities::{
    apply_steps, EntityExtractor, EntitySpec, Extraction, Found, PatternSpec, PatternWithValue,
    TextStep,
};
pub use error::DialogueError;
pub use hours::BusinessHours;
pub use respond::{Line, Responder, Vars, SUMMARY_VARIABLES};
pub use signals::{fold, Lexicon, Reading, Signal, Signals};
pub use state::{
    BotAnswer, Candidate, CustomerMessage, DialogueState, EntityValue, MissKind,
    PendingClarification, PendingSlot, Rotation, SentimentSignal, TimelineEntry,
};
pub use summary::{
    HandoffReason, HandoffRequest, HandoffSummary, SentimentLabel, SentimentSummary,
};

use crate::catalog::{Catalog, HandoffMode, Locale, VariableSpec};
use crate::nlu::{Action, Classification};

/// Customer metadata given when the conversation started: `id`, `name`, `email`, `order_ids`.
pub type CustomerMetadata = serde_json::Map<String, serde_json::Value>;

/// One customer message, classified.
#[derive(Debug, Clone, Copy)]
pub struct TurnInput<'a> {
    pub text: &'a str,
    pub classification: &'a Classification,
    /// The conversation's locale, when the customer chose one.
    pub locale: Option<&'a Locale>,
    pub customer: &'a CustomerMetadata,
    pub now: DateTime<Utc>,
}

/// A button the customer can press instead of typing; pressing it sends `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    pub label: String,
    /// The intent name.
    pub value: String,
}

pub use crate::domain::TurnKind;

/// The bot's side of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotTurn {
    /// `None` while a person has the conversation.
    pub reply: Option<String>,
    pub action: Action,
    pub intent: Option<String>,
    pub confidence: f32,
    pub quick_replies: Vec<QuickReply>,
    /// Set on the turn that hands off (a ticket is to be created), not on the silent turns after.
    pub handoff: Option<HandoffRequest>,
    pub kind: TurnKind,
}

/// What the policy needs to know of an intent.
#[derive(Debug, Clone)]
struct IntentInfo {
    handoff: HandoffMode,
    variables: BTreeMap<String, VariableSpec>,
}

/// The dialogue engine: configuration, compiled templates, entity patterns and word lists, built
/// once at startup (or on a catalog reload) and shared by every conversation.
pub struct Dialogue {
    config: DialogueConfig,
    responder: Responder,
    extractor: EntityExtractor,
    signals: Signals,
    intents: BTreeMap<String, IntentInfo>,
    locales: Vec<Locale>,
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
        let intents = catalog
            .intents
            .iter()
            .map(|i| {
                (
                    i.name.to_string(),
                    IntentInfo {
                        handoff: i.handoff,
                        variables: i.variables.clone(),
                    },
                )
            })
            .collect();
        Ok(Self {
            signals: Signals::new(&config),
            config,
            responder,
            extractor,
            intents,
            locales: catalog.locales.clone(),
        })
    }

    /// Reads `_dialogue.yaml` and `_entities.yaml` from `intents_dir` and builds the engine.
    pub fn load(catalog: &Catalog, intents_dir: &Path) -> Result<Self, DialogueError> {
        Self::new(catalog, DialogueConfig::load(intents_dir)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_can_be_shared_between_request_handlers() {
        fn shared<T: Send + Sync>() {}
        shared::<Dialogue>();
    }

    #[test]
    fn scripts_of_characters() {
        assert_eq!(Script::of('あ'), Some(Script::Hiragana));
        assert_eq!(Script::of('ア'), Some(Script::Katakana));
        assert_eq!(Script::of('ｱ'), Some(Script::Katakana));
        assert_eq!(Script::of('注'), Some(Script::Han));
        assert_eq!(Script::of('한'), Some(Script::Hangul));
        assert_eq!(Script::of('a'), None);
        assert_eq!(Script::of('１'), None);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(policy::clip("こんにちは", 3), "こんに…");
        assert_eq!(policy::clip("hi", 3), "hi");
    }
}
