//! The handoff summary: everything an agent needs at a glance — who the customer is, the problem in
//! their own words, the intent timeline with confidences, the entities collected, what the bot already
//! answered, sentiment, why it was handed off and since when the customer waits — plus a short
//! readable text in the agents' language, from the `summary` template of `_dialogue.yaml`.
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use minijinja::Value;

use super::config::{SentimentLabels, METADATA_VARIABLES};
use super::engine::Dialogue;
use super::respond::{template_vars, Line, Vars};
use super::signals::Signal;
use super::state::{clip, CustomerMessage, DialogueState, TimelineEntry};
use super::types::{CustomerMetadata, HandoffSummary, SentimentLabel, SentimentSummary};
use crate::catalog::HandoffMode;
use crate::domain::{HandoffReason, IntentName, Locale, TurnKind};

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
        handoff_intent: Option<&IntentName>,
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

    /// The readable summary in the agents' language, from the `summary` line of `_dialogue.yaml`.
    fn summary_text(
        &self,
        state: &DialogueState,
        locale: &Locale,
        reason: HandoffReason,
        handoff_intent: Option<&IntentName>,
        sentiment: &SentimentSummary,
        vars: &Vars,
    ) -> Option<String> {
        let agent = &self.config.agent_locale;
        let words = &self.config.text(agent)?.summary;
        let mut ctx: Vars = METADATA_VARIABLES
            .iter()
            .filter_map(|&key| Some((key.to_string(), vars.get(key)?.clone())))
            .collect();
        ctx.extend(self.intent_vars(state, handoff_intent));
        ctx.insert("entities".into(), latest_entities(state));
        ctx.insert("reason".into(), Value::from(words.reasons.get(reason)));
        let sentiment_word = sentiment_word(&words.sentiments, sentiment.label);
        ctx.insert("sentiment".into(), Value::from(sentiment_word));
        // The problem in the customer's words: not the "hi" that opened the conversation.
        let opening = state
            .messages
            .iter()
            .find(|m| {
                !m.intent
                    .as_ref()
                    .is_some_and(|i| self.context.is_small_talk(i))
            })
            .or(state.messages.first());
        ctx.extend(conversation_vars(state, opening, locale));
        match self.responder.line(agent, Line::Summary, &ctx) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::error!(error = %e, "the summary template failed to render");
                None
            }
        }
    }

    /// `topic`, `handoff_intent`, `answered` and `intents`, named as agents know them.
    fn intent_vars(&self, state: &DialogueState, handoff_intent: Option<&IntentName>) -> Vars {
        let agent = &self.config.agent_locale;
        let label = |intent: &IntentName| Value::from(self.config.label(intent.as_str(), agent));
        let labels =
            |list: Vec<&IntentName>| Value::from(list.into_iter().map(label).collect::<Vec<_>>());
        let mut vars = Vars::new();
        if let Some(topic) = self.topic(state) {
            vars.insert("topic".into(), label(topic));
        }
        if let Some(i) = handoff_intent {
            vars.insert("handoff_intent".into(), label(i));
        }
        // "Greeting" is no answer an agent needs to know was given.
        let answered = distinct(
            state
                .answers
                .iter()
                .map(|a| &a.intent)
                .filter(|i| !self.context.is_small_talk(i)),
        );
        let seen = distinct(state.timeline.iter().filter_map(|e| e.intent.as_ref()));
        vars.insert("answered".into(), labels(answered));
        vars.insert("intents".into(), labels(seen));
        vars
    }

    /// The topic: the latest thing the bot answered or asked details for; failing that, what a
    /// handoff's message was surely about (an angry first message). Never an intent that is
    /// itself a handoff (a complaint, a request for a person), nor courtesy (a greeting).
    fn topic<'s>(&self, state: &'s DialogueState) -> Option<&'s IntentName> {
        let own_topic = |e: &'s TimelineEntry| {
            let intent = e.intent.as_ref()?;
            let always = self
                .intents
                .get(intent)
                .is_some_and(|i| i.handoff == HandoffMode::Always);
            (!always && !self.context.is_small_talk(intent)).then_some(intent)
        };
        let sure = self.config.policy.summary_topic_min_confidence;
        let timeline = || state.timeline.iter().rev();
        timeline()
            .filter(|e| matches!(e.kind, TurnKind::Answer | TurnKind::AskSlot))
            .find_map(own_topic)
            .or_else(|| {
                timeline()
                    .filter(|e| e.kind == TurnKind::Handoff && e.confidence >= sure)
                    .find_map(own_topic)
            })
    }
}

/// Each intent once, in first-seen order.
fn distinct<'a>(intents: impl Iterator<Item = &'a IntentName>) -> Vec<&'a IntentName> {
    let mut out: Vec<&IntentName> = Vec::new();
    for i in intents {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Entity name → its latest value.
fn latest_entities(state: &DialogueState) -> Value {
    let entities: BTreeMap<&str, &str> = state
        .entities
        .iter()
        .filter_map(|(k, v)| v.last().map(|v| (k.as_str(), v.value.as_str())))
        .collect();
    Value::from_serialize(&entities)
}

fn sentiment_word(words: &SentimentLabels, label: SentimentLabel) -> &str {
    match label {
        SentimentLabel::Positive => &words.positive,
        SentimentLabel::Neutral => &words.neutral,
        SentimentLabel::Negative => &words.negative,
        SentimentLabel::Frustrated => &words.frustrated,
    }
}

/// `first_message` (`opening`: the first that is more than courtesy), `last_message` (quoted
/// short), `turns` and `locale`.
fn conversation_vars(
    state: &DialogueState,
    opening: Option<&CustomerMessage>,
    locale: &Locale,
) -> Vars {
    let quote = |m: Option<&CustomerMessage>| {
        Value::from(m.map(|m| clip(&m.text, 200)).unwrap_or_default())
    };
    Vars::from([
        ("first_message".into(), quote(opening)),
        ("last_message".into(), quote(state.messages.last())),
        ("turns".into(), Value::from(state.turn)),
        ("locale".into(), Value::from(locale.as_str())),
    ])
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
            intent: intent.map(|i| IntentName::try_from(i).expect("test intent name")),
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
            HandoffReason::Referred,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
        }
    }
}
