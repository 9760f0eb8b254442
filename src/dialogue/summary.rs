//! The handoff summary: everything an agent needs at a glance — who the customer is, the problem in
//! their own words, the intent timeline with confidences, the entities collected, what the bot already
//! answered, sentiment, why it was handed off and since when the customer waits — plus a short
//! readable text in the agents' language, from the `summary` template of `_dialogue.yaml`.
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use minijinja::Value;
use serde::{Deserialize, Serialize};

use super::policy::{clip, template_vars};
use super::respond::{Line, Vars};
use super::signals::Signal;
use super::state::{BotAnswer, CustomerMessage, DialogueState, EntityValue, TimelineEntry};
use super::{CustomerMetadata, Dialogue, TurnKind};
use crate::catalog::{HandoffMode, Locale};

pub use crate::domain::HandoffReason;

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
    #[serde(serialize_with = "super::state::four_places")]
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

impl Dialogue {
    /// A summary of the conversation so far, as it would be attached to a handoff for `reason` at
    /// `now` (for handoffs the service starts itself, e.g. an agent taking over).
    pub fn summarize(
        &self,
        state: &DialogueState,
        customer: &CustomerMetadata,
        reason: HandoffReason,
        now: DateTime<Utc>,
    ) -> HandoffSummary {
        let locale = state
            .locale
            .clone()
            .unwrap_or_else(|| self.config.language.fallback.clone());
        let next_open = self
            .business_hours()
            .filter(|h| !h.is_open(now))
            .and_then(|h| h.next_open(now));
        let vars = template_vars(customer, state);
        self.summary_for(
            state, customer, &locale, reason, None, now, next_open, &vars,
        )
    }

    /// The summary; `vars` are the template variables of the turn (customer metadata, entities).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn summary_for(
        &self,
        state: &DialogueState,
        customer: &CustomerMetadata,
        locale: &Locale,
        reason: HandoffReason,
        handoff_intent: Option<&str>,
        now: DateTime<Utc>,
        next_open: Option<DateTime<FixedOffset>>,
        vars: &Vars,
    ) -> HandoffSummary {
        let sentiment = sentiment(state, reason);
        let agent = &self.config.agent_locale;
        let text = self
            .summary_text(state, locale, reason, handoff_intent, &sentiment, vars)
            .unwrap_or_else(|| format!("reason: {}", reason.as_str()));
        HandoffSummary {
            customer: customer.clone(),
            locale: locale.clone(),
            key_messages: key_messages(&state.messages, self.config.policy.key_messages),
            timeline: state.timeline.clone(),
            entities: state.entities.clone(),
            answered: state.answers.clone(),
            sentiment,
            reason,
            waiting_since: now,
            next_open,
            agent_locale: agent.clone(),
            text,
        }
    }

    fn summary_text(
        &self,
        state: &DialogueState,
        locale: &Locale,
        reason: HandoffReason,
        handoff_intent: Option<&str>,
        sentiment: &SentimentSummary,
        vars: &Vars,
    ) -> Option<String> {
        let agent = &self.config.agent_locale;
        let words = &self.config.text(agent)?.summary;
        let label = |intent: &str| Value::from(self.config.label(intent, agent));
        let mut ctx = Vars::new();
        for key in ["customer_name", "customer_email", "customer_id", "order_id"] {
            if let Some(v) = vars.get(key) {
                ctx.insert(key.into(), v.clone());
            }
        }
        // The topic: the latest thing the bot answered or asked details for, not the handoff itself.
        let topic = state.timeline.iter().rev().find_map(|e| {
            let intent = e.intent.as_deref()?;
            let always = self
                .intents
                .get(intent)
                .is_some_and(|i| i.handoff == HandoffMode::Always);
            (matches!(e.kind, TurnKind::Answer | TurnKind::AskSlot) && !always).then_some(intent)
        });
        if let Some(t) = topic {
            ctx.insert("topic".into(), label(t));
        }
        if let Some(i) = handoff_intent {
            ctx.insert("handoff_intent".into(), label(i));
        }
        let mut answered: Vec<&str> = Vec::new();
        for a in &state.answers {
            if !answered.contains(&a.intent.as_str()) {
                answered.push(&a.intent);
            }
        }
        let mut intents: Vec<&str> = Vec::new();
        for e in &state.timeline {
            if let Some(i) = e.intent.as_deref() {
                if !intents.contains(&i) {
                    intents.push(i);
                }
            }
        }
        let labels = |list: Vec<&str>| Value::from(list.into_iter().map(label).collect::<Vec<_>>());
        ctx.insert("answered".into(), labels(answered));
        ctx.insert("intents".into(), labels(intents));
        let entities: BTreeMap<&str, &str> = state
            .entities
            .iter()
            .filter_map(|(k, v)| v.last().map(|v| (k.as_str(), v.value.as_str())))
            .collect();
        ctx.insert("entities".into(), Value::from_serialize(&entities));
        ctx.insert("reason".into(), Value::from(words.reasons.get(reason)));
        let sentiment_word = match sentiment.label {
            SentimentLabel::Positive => &words.sentiments.positive,
            SentimentLabel::Neutral => &words.sentiments.neutral,
            SentimentLabel::Negative => &words.sentiments.negative,
            SentimentLabel::Frustrated => &words.sentiments.frustrated,
        };
        ctx.insert("sentiment".into(), Value::from(sentiment_word.as_str()));
        let quote = |m: Option<&super::state::CustomerMessage>| {
            Value::from(m.map(|m| clip(&m.text, 200)).unwrap_or_default())
        };
        ctx.insert("first_message".into(), quote(state.messages.first()));
        ctx.insert("last_message".into(), quote(state.messages.last()));
        ctx.insert("turns".into(), Value::from(state.turn));
        ctx.insert("locale".into(), Value::from(locale.0.as_str()));
        match self.responder.line(agent, Line::Summary, &ctx) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::error!(error = %e, "the summary template failed to render");
                None
            }
        }
    }
}

/// All of them when there are at most `max`; else the first, the latest, and those with the most
/// confident intents, in conversation order.
fn key_messages(messages: &[CustomerMessage], max: usize) -> Vec<CustomerMessage> {
    let n = messages.len();
    if n <= max {
        return messages.to_vec();
    }
    if max == 0 {
        return Vec::new();
    }
    let mut picked = vec![0];
    if max > 1 && n > 1 {
        picked.push(n - 1);
    }
    let mut by_confidence: Vec<usize> = (0..n).filter(|&i| messages[i].intent.is_some()).collect();
    by_confidence.sort_by(|&a, &b| {
        messages[b]
            .confidence
            .total_cmp(&messages[a].confidence)
            .then(b.cmp(&a))
    });
    for i in by_confidence {
        if picked.len() >= max {
            break;
        }
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked.sort_unstable();
    picked.into_iter().map(|i| messages[i].clone()).collect()
}

fn sentiment(state: &DialogueState, reason: HandoffReason) -> SentimentSummary {
    let scores: Vec<f32> = state.sentiment.iter().map(|s| s.score).collect();
    let score = if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f32>() / scores.len() as f32
    };
    let mut signals: Vec<Signal> = Vec::new();
    for s in state.sentiment.iter().flat_map(|s| &s.signals) {
        if !signals.contains(s) {
            signals.push(*s);
        }
    }
    let frustrated =
        reason == HandoffReason::Frustration || state.sentiment.iter().any(|s| s.frustrated);
    let label = if frustrated {
        SentimentLabel::Frustrated
    } else if score <= -0.25 {
        SentimentLabel::Negative
    } else if score >= 0.25 {
        SentimentLabel::Positive
    } else {
        SentimentLabel::Neutral
    };
    SentimentSummary {
        score: (score * 100.0).round() / 100.0,
        label,
        signals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(turn: u32, intent: Option<&str>, confidence: f32) -> CustomerMessage {
        CustomerMessage {
            turn,
            text: format!("m{turn}"),
            intent: intent.map(str::to_string),
            confidence,
        }
    }

    #[test]
    fn key_messages_keep_first_latest_and_most_confident() {
        let messages = vec![
            msg(1, None, 0.1),
            msg(2, Some("a"), 0.5),
            msg(3, Some("b"), 0.95),
            msg(4, Some("c"), 0.3),
            msg(5, Some("d"), 0.9),
            msg(6, Some("e"), 0.2),
            msg(7, None, 0.1),
        ];
        let turns: Vec<u32> = key_messages(&messages, 5).iter().map(|m| m.turn).collect();
        assert_eq!(turns, [1, 2, 3, 5, 7]);
        let turns: Vec<u32> = key_messages(&messages, 2).iter().map(|m| m.turn).collect();
        assert_eq!(turns, [1, 7]);
        assert_eq!(key_messages(&messages[..3], 5).len(), 3);
    }

    #[test]
    fn reasons_serialize_as_their_names() {
        for r in [
            HandoffReason::ExplicitRequest,
            HandoffReason::AlwaysHandoffIntent,
            HandoffReason::LowConfidence,
            HandoffReason::OutOfScope,
            HandoffReason::Frustration,
            HandoffReason::Complaint,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
        }
    }
}
