//! The per-turn decision: given a customer message and its classification, answer from the intent's
//! templates, ask which of two intents was meant, ask for a detail the answer needs, or hand the
//! conversation to a person with a summary. Pure logic: no HTTP, no SQL, no tensors; the service
//! classifies, calls [`Dialogue::turn`], then stores the [`DialogueState`] (JSON) and the [`BotTurn`].
//!
//! - `engine`: [`Dialogue`], built once from the catalog and `_dialogue.yaml`; `types`: what a turn
//!   goes in and comes out with ([`TurnInput`], [`BotTurn`], [`HandoffRequest`]).
//! - `policy`: the decision itself, [`Dialogue::turn`] (explicit requests, frustration, choices,
//!   slots, misses, handoffs).
//! - `respond`: the minijinja environment ([`Responder`]: intent templates and the bot's own lines),
//!   checked at startup.
//! - `entities`: order numbers, e-mails, phones, dates, tracking numbers ([`EntityExtractor`]).
//! - `signals`: explicit requests for a person, sentiment and frustration ([`Signals`]).
//! - `summary`: the [`HandoffSummary`] for agents; `hours`: [`BusinessHours`].
//! - `consistency`: the one-question rule for templates ([`check_variations`]: variations of an
//!   intent state the same numbers and names), warned about by `madoguchi validate`.
//! - `config`: `intents/_dialogue.yaml` (wording per locale, policy knobs) and `_entities.yaml`
//!   ([`DialogueConfig`]); `state`: the per-conversation [`DialogueState`].
//! - `context`: follow-ups, vague requests and small talk (`context:` of `_dialogue.yaml`);
//!   `words`: folding and word-list matching shared by `signals` and `context`.
//!
//! Every word the bot says is catalog data: the code never branches on a locale.
//!
//! Imports inside the module run one way (`scripts/import-cycles.py` checks it): `policy` and
//! `summary` use `engine`, `respond`, `state` and `types`; `config` and the parsers below it use
//! none of them; this file only declares and re-exports.
mod config;
mod consistency;
mod context;
mod engine;
mod entities;
mod error;
mod hours;
mod policy;
mod respond;
mod signals;
mod state;
mod summary;
mod types;
mod words;

pub use config::parse_entities;
pub use config::{
    DialogueConfig, FrustrationConfig, FrustrationWeights, HandoffLines, LanguageConfig, Lines,
    LocaleText, PolicyConfig, ReasonLabels, Script, SentimentLabels, SentimentWords, SummaryText,
    DIALOGUE_FILE, ENTITIES_FILE, METADATA_VARIABLES,
};
pub use consistency::{check_intent, check_variations, facts_of};
#[cfg(test)]
pub(crate) use context::Context;
pub use context::{ContextConfig, FollowUpConfig, VagueConfig, VagueTopic};
pub use engine::Dialogue;
pub use entities::{
    apply_steps, EntityExtractor, EntitySpec, Extraction, Found, PatternSpec, PatternWithValue,
    TextStep,
};
pub use error::DialogueError;
pub use hours::BusinessHours;
pub(crate) use respond::template_vars;
pub use respond::{Line, Responder, Vars, SUMMARY_VARIABLES};
pub use signals::{Reading, Signal, Signals};
pub use state::{
    BotAnswer, Candidate, CustomerMessage, DialogueState, EntityValue, MissKind,
    PendingClarification, PendingSlot, Rotation, SentimentSignal, TimelineEntry,
};
pub use types::{
    BotTurn, CustomerMetadata, HandoffRequest, HandoffSummary, QuickReply, Sentence,
    SentimentLabel, SentimentSummary, TurnInput,
};
pub use words::{fold, Lexicon};

pub use crate::domain::{HandoffReason, TurnKind};
