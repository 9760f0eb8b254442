//! The types a turn goes in and comes out with: [`TurnInput`], [`BotTurn`] and its
//! [`QuickReply`]s, and the [`HandoffRequest`] with its [`HandoffSummary`]. A leaf of the dialogue
//! module (besides the per-conversation `state`), so the policy, the summary and the service all
//! share them without importing one another.
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::signals::Signal;
use super::state::{four_places, BotAnswer, CustomerMessage, EntityValue, TimelineEntry};
use crate::domain::{Action, HandoffReason, IntentName, Locale, TurnKind};
use crate::nlu::Classification;

/// Customer metadata given when the conversation started: `id`, `name`, `email`, `order_ids`.
pub type CustomerMetadata = serde_json::Map<String, serde_json::Value>;

/// One sentence of a customer message of several, classified on its own: "送料はいくらですか。
/// あと、返品の期限はいつまでですか" asks two things, and the second gets its own answer.
#[derive(Debug, Clone)]
pub struct Sentence {
    pub text: String,
    pub classification: Classification,
}

/// One customer message, classified.
#[derive(Debug, Clone, Copy)]
pub struct TurnInput<'a> {
    pub text: &'a str,
    pub classification: &'a Classification,
    /// The conversation's locale, when the customer chose one.
    pub locale: Option<&'a Locale>,
    pub customer: &'a CustomerMetadata,
    pub now: DateTime<Utc>,
    /// The message's sentences, each classified, when it has two or more of substance
    /// ([`Dialogue::sentences`](super::Dialogue::sentences)); empty otherwise.
    pub sentences: &'a [Sentence],
}

/// A button the customer can press instead of typing; pressing it sends `value` (the intent's
/// name, which the policy recognises as the choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    pub label: String,
    pub value: IntentName,
}

/// The bot's side of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotTurn {
    /// `None` while a person has the conversation.
    pub reply: Option<String>,
    pub action: Action,
    pub intent: Option<IntentName>,
    pub confidence: f32,
    pub quick_replies: Vec<QuickReply>,
    /// Set on the turn that hands off (a ticket is to be created), not on the silent turns after.
    pub handoff: Option<HandoffRequest>,
    pub kind: TurnKind,
}

/// What the service turns into a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffRequest {
    pub reason: HandoffReason,
    pub summary: HandoffSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
    Frustrated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentSummary {
    /// Mean lexicon score of the customer's messages, -1 .. 1.
    #[serde(serialize_with = "four_places")]
    pub score: f32,
    pub label: SentimentLabel,
    /// Every frustration signal seen in the conversation.
    pub signals: Vec<Signal>,
}

/// The summary attached to a handoff ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffSummary {
    /// Customer metadata as given when the conversation started.
    pub customer: CustomerMetadata,
    /// The customer's language.
    pub locale: Locale,
    /// The first message, those with the most confident intents, and the latest, in order.
    pub key_messages: Vec<CustomerMessage>,
    pub timeline: Vec<TimelineEntry>,
    pub entities: BTreeMap<String, Vec<EntityValue>>,
    pub answered: Vec<BotAnswer>,
    pub sentiment: SentimentSummary,
    pub reason: HandoffReason,
    pub waiting_since: DateTime<Utc>,
    /// When people next answer, if the handoff happened outside business hours.
    pub next_open: Option<DateTime<FixedOffset>>,
    /// The language of `text`.
    pub agent_locale: Locale,
    /// The readable summary.
    pub text: String,
}
