//! What the dialogue remembers about one conversation between turns. The service stores it as JSON
//! beside the conversation and hands it back on the next message, so every field has a default: a
//! state written by an older version still loads.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::signals::Signal;
use crate::domain::{Action, IntentName, Locale, TurnKind};

/// The per-conversation memory of the dialogue policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DialogueState {
    /// Customer messages so far (1-based turn of the latest).
    pub turn: u32,
    /// The language the bot replies in.
    pub locale: Option<Locale>,
    /// The bot asked "A or B?" (or offered suggestions) and waits for the choice.
    pub pending_clarification: Option<PendingClarification>,
    /// The bot asked for a detail an intent needs and waits for it.
    pub pending_slot: Option<PendingSlot>,
    /// Misses in a row (low confidence, out of scope, a detail not given).
    pub misses: u32,
    /// What the last miss was, for the handoff reason.
    pub last_miss: Option<MissKind>,
    /// Entity name → the distinct values the customer gave, oldest first.
    pub entities: BTreeMap<String, Vec<EntityValue>>,
    /// Intent → which template variations were used (never the same one twice in a row).
    pub rotation: BTreeMap<IntentName, Rotation>,
    /// One entry per bot decision.
    pub timeline: Vec<TimelineEntry>,
    /// The customer's messages, in their own words.
    pub messages: Vec<CustomerMessage>,
    /// What the bot answered.
    pub answers: Vec<BotAnswer>,
    /// Sentiment of each customer message.
    pub sentiment: Vec<SentimentSignal>,
    /// A person has the conversation: the bot stays silent.
    pub handed_off: bool,
    /// Details (variables) the customer does not have or went on without: an intent whose
    /// catalog entry allows it (`waived.declined`) answers without them and never asks again.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub declined_details: BTreeSet<String>,
}

impl DialogueState {
    /// The latest value of entity `name`.
    pub fn entity(&self, name: &str) -> Option<&str> {
        self.entities
            .get(name)
            .and_then(|v| v.last())
            .map(|v| v.value.as_str())
    }

    /// An agent handed the conversation back to the bot: it answers again, starting afresh on
    /// misses and questions but keeping what it learnt (locale, entities, history).
    pub fn handed_back(&mut self) {
        self.handed_off = false;
        self.misses = 0;
        self.last_miss = None;
        self.pending_clarification = None;
        self.pending_slot = None;
    }

    /// Records an entity value (a value said again moves to the end, as the latest).
    pub(crate) fn remember_entity(&mut self, name: &str, value: &str, turn: u32) {
        let values = self.entities.entry(name.to_string()).or_default();
        values.retain(|v| v.value != value);
        values.push(EntityValue {
            value: value.to_string(),
            turn,
        });
    }
}

/// The bot offered intents to choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingClarification {
    /// The intents offered (the two candidates of a clarification), with their confidence.
    pub candidates: Vec<Candidate>,
    /// The message that led to the question.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub intent: IntentName,
    #[serde(serialize_with = "four_places")]
    pub confidence: f32,
}

/// The bot asked for `variable` to answer `intent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingSlot {
    pub intent: IntentName,
    pub variable: String,
    /// The confidence the intent was recognised with.
    #[serde(serialize_with = "four_places")]
    pub confidence: f32,
    /// The customer's question, so that the answer given once the detail arrives still answers
    /// what exactly was asked (its facets).
    #[serde(default)]
    pub question: String,
    /// Another question of the same message, which waits for the same detail ("I want to return
    /// this. Also, when will I get my refund?"): answered after this one once the detail comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub also: Option<AlsoAsked>,
}

/// A question asked beside the one the bot waits on: its intent and its own sentence (whose
/// facets say what exactly it asks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsoAsked {
    pub intent: IntentName,
    pub sentence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissKind {
    LowConfidence,
    OutOfScope,
    /// The bot asked for a detail and did not get it.
    SlotNotGiven,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityValue {
    pub value: String,
    /// The customer message it came from.
    pub turn: u32,
}

/// The template variations of one intent used so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rotation {
    /// Used since the last time all of them were.
    pub used: Vec<usize>,
    pub last: Option<usize>,
}

/// One bot decision: which intent, how sure, what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub turn: u32,
    pub intent: Option<IntentName>,
    #[serde(serialize_with = "four_places")]
    pub confidence: f32,
    pub action: Action,
    pub kind: TurnKind,
}

/// A customer message in the customer's own words, with how it was classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerMessage {
    pub turn: u32,
    pub text: String,
    pub intent: Option<IntentName>,
    #[serde(serialize_with = "four_places")]
    pub confidence: f32,
}

/// What the bot answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotAnswer {
    pub turn: u32,
    pub intent: IntentName,
    pub text: String,
    /// The customer's question it answered (for a follow-up, what exactly was asked before).
    #[serde(default)]
    pub question: String,
    /// It came with the offer of a person (the same answer asked for again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offered_person: bool,
}

/// The sentiment of one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentSignal {
    pub turn: u32,
    /// -1 (negative) .. 1 (positive), from the lexicon.
    #[serde(serialize_with = "four_places")]
    pub score: f32,
    /// Frustration signals the message showed.
    pub signals: Vec<Signal>,
    /// Did the signals add up to frustration?
    pub frustrated: bool,
}

/// Scores as JSON numbers with four decimals: an `f32` widened to `f64` (as `serde_json::Value`
/// does) would otherwise read 0.949899971485138 in summaries and stored state.
pub(crate) fn four_places<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*x) * 1e4).round() / 1e4)
}

/// The first `max` characters of `text`.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("こんにちは", 3), "こんに…");
        assert_eq!(clip("hi", 3), "hi");
    }

    #[test]
    fn old_or_empty_json_loads() {
        let s: DialogueState = serde_json::from_str("{}").unwrap();
        assert_eq!(s, DialogueState::default());
        let s: DialogueState = serde_json::from_str(r#"{"turn": 3, "handed_off": true}"#).unwrap();
        assert!(s.handed_off);
    }

    #[test]
    fn entity_values_keep_the_latest_last() {
        let mut s = DialogueState::default();
        s.remember_entity("order_id", "MD1", 1);
        s.remember_entity("order_id", "MD2", 2);
        s.remember_entity("order_id", "MD1", 3);
        assert_eq!(s.entity("order_id"), Some("MD1"));
        assert_eq!(s.entities["order_id"].len(), 2);
    }

    #[test]
    fn hand_back_keeps_history() {
        let mut s = DialogueState {
            handed_off: true,
            misses: 2,
            turn: 4,
            ..Default::default()
        };
        s.remember_entity("email", "a@b.jp", 1);
        s.handed_back();
        assert!(!s.handed_off);
        assert_eq!(s.misses, 0);
        assert_eq!(s.turn, 4);
        assert_eq!(s.entity("email"), Some("a@b.jp"));
    }

    #[test]
    fn scores_serialize_with_four_decimals() {
        let entry = CustomerMessage {
            turn: 1,
            text: "x".into(),
            intent: None,
            confidence: 0.9499,
        };
        let v = serde_json::to_value(&entry).unwrap();
        assert_eq!(v["confidence"].as_f64(), Some(0.9499));
        let back: CustomerMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back.confidence, 0.9499);
    }
}
