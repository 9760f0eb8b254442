//! From head logits to a decision: calibrated probabilities, out-of-scope signals, and the action
//! (answer, clarify, hand off) under the chosen thresholds.
use serde::{Deserialize, Serialize};

use super::head::{softmax, Head};
use super::knn::NeighbourIndex;
use crate::catalog::HandoffMode;

pub use crate::domain::{Action, Reason};

/// Thresholds chosen from data by the trainer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Minimum calibrated probability of the top intent to answer.
    pub answer: f32,
    /// Minimum cosine similarity to the nearest training example; below it the message is out of scope.
    pub similarity: f32,
    /// Top two intents closer than this (in probability) are ambiguous.
    pub margin: f32,
}

/// Scores of one message: in-scope intents ranked by calibrated probability, plus OOS signals.
#[derive(Debug, Clone)]
pub struct Scores {
    /// (intent index, probability), best first.
    pub ranked: Vec<(usize, f32)>,
    /// Probability of the explicit out-of-scope class (0 when the model has none).
    pub p_out_of_scope: f32,
    /// Cosine similarity to the nearest in-scope training example.
    pub similarity: f32,
}

impl Scores {
    pub fn compute(
        head: &Head,
        index: &NeighbourIndex,
        temperature: f32,
        n_intents: usize,
        embedding: &[f32],
    ) -> Self {
        Self::from_logits(
            &head.logits(embedding),
            temperature,
            n_intents,
            index.max_similarity(embedding),
        )
    }

    pub fn from_logits(
        logits: &[f32],
        temperature: f32,
        n_intents: usize,
        similarity: f32,
    ) -> Self {
        let probs = softmax(logits, temperature);
        let mut ranked: Vec<(usize, f32)> =
            probs.iter().copied().enumerate().take(n_intents).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let p_out_of_scope = probs.get(n_intents).copied().unwrap_or(0.0);
        Self {
            ranked,
            p_out_of_scope,
            similarity,
        }
    }

    pub fn top(&self) -> (usize, f32) {
        self.ranked.first().copied().unwrap_or((0, 0.0))
    }

    fn second(&self) -> f32 {
        self.ranked.get(1).map_or(0.0, |r| r.1)
    }

    /// Out of scope: the OOS class beats every intent, or nothing in training looks like it.
    pub fn out_of_scope(&self, t: &Thresholds) -> bool {
        self.p_out_of_scope > self.top().1 || self.similarity < t.similarity
    }

    /// Would the bot answer with the top intent under `answer_threshold`?
    pub fn answers(&self, t: &Thresholds, answer_threshold: f32) -> bool {
        !self.out_of_scope(t) && self.top().1 >= answer_threshold
    }

    /// Probability that a person handles the message: the sum over the always-handoff intents.
    fn always_handoff_mass(&self, handoff_of: impl Fn(usize) -> HandoffMode) -> f32 {
        self.ranked
            .iter()
            .filter(|&&(i, _)| handoff_of(i) == HandoffMode::Always)
            .map(|&(_, p)| p)
            .sum()
    }

    /// The decision for this message; `handoff_of` gives each intent's handoff mode.
    pub fn decide(
        &self,
        t: &Thresholds,
        answer_threshold: f32,
        handoff_of: impl Fn(usize) -> HandoffMode,
    ) -> (Option<usize>, Action, Reason) {
        if self.out_of_scope(t) {
            return (None, Action::Handoff, Reason::OutOfScope);
        }
        let (top, p) = self.top();
        let handoff = handoff_of(top);
        let ambiguous = p - self.second() < t.margin && p + self.second() >= answer_threshold;
        // "Complaint or a request for a person?" needs no asking: either way a person takes it, so
        // the always-handoff intents' summed probability is what must be confident.
        if handoff == HandoffMode::Always
            && self.always_handoff_mass(handoff_of) >= answer_threshold
        {
            return (Some(top), Action::Handoff, Reason::AlwaysHandoff);
        }
        if ambiguous {
            return (Some(top), Action::Clarify, Reason::Ambiguous);
        }
        if p >= answer_threshold {
            return (Some(top), Action::Answer, Reason::Confident);
        }
        if handoff == HandoffMode::Never {
            // Intents that never go to a person: ask again instead.
            return (Some(top), Action::Clarify, Reason::LowConfidence);
        }
        (Some(top), Action::Handoff, Reason::LowConfidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        answer: 0.6,
        similarity: 0.5,
        margin: 0.15,
    };

    fn scores(probs: &[f32], oos: f32, sim: f32) -> Scores {
        let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Scores {
            ranked,
            p_out_of_scope: oos,
            similarity: sim,
        }
    }

    #[test]
    fn confident_answers() {
        let s = scores(&[0.9, 0.05], 0.05, 0.9);
        assert_eq!(
            s.decide(&T, 0.6, |_| HandoffMode::Auto),
            (Some(0), Action::Answer, Reason::Confident)
        );
    }

    #[test]
    fn close_pair_clarifies() {
        let s = scores(&[0.45, 0.40, 0.1], 0.05, 0.9);
        assert_eq!(s.decide(&T, 0.6, |_| HandoffMode::Auto).1, Action::Clarify);
    }

    #[test]
    fn low_confidence_hands_off_unless_never() {
        let s = scores(&[0.4, 0.1, 0.1, 0.1], 0.3, 0.9);
        assert_eq!(
            s.decide(&T, 0.6, |_| HandoffMode::Auto),
            (Some(0), Action::Handoff, Reason::LowConfidence)
        );
        assert_eq!(s.decide(&T, 0.6, |_| HandoffMode::Never).1, Action::Clarify);
    }

    #[test]
    fn out_of_scope_by_class_or_distance() {
        let by_class = scores(&[0.3, 0.1], 0.6, 0.9);
        assert_eq!(
            by_class.decide(&T, 0.6, |_| HandoffMode::Auto),
            (None, Action::Handoff, Reason::OutOfScope)
        );
        let by_distance = scores(&[0.95, 0.05], 0.0, 0.2);
        assert_eq!(
            by_distance.decide(&T, 0.6, |_| HandoffMode::Auto).2,
            Reason::OutOfScope
        );
    }

    #[test]
    fn always_handoff_intents_go_to_a_person() {
        let s = scores(&[0.9, 0.05], 0.05, 0.9);
        assert_eq!(
            s.decide(&T, 0.6, |_| HandoffMode::Always),
            (Some(0), Action::Handoff, Reason::AlwaysHandoff)
        );
    }

    #[test]
    fn two_close_always_handoff_intents_go_to_a_person_together() {
        // Intents 0 and 1 go to a person, 2 is answered by the bot.
        let mode = |i: usize| {
            if i < 2 {
                HandoffMode::Always
            } else {
                HandoffMode::Auto
            }
        };
        let split = scores(&[0.5, 0.4, 0.05], 0.05, 0.9);
        assert_eq!(
            split.decide(&T, 0.6, mode),
            (Some(0), Action::Handoff, Reason::AlwaysHandoff)
        );
        // A bot-answered runner-up is no person's work: that pair is still asked about.
        let mixed = scores(&[0.5, 0.05, 0.42], 0.03, 0.9);
        assert_eq!(mixed.decide(&T, 0.6, mode).1, Action::Clarify);
        // Nor does an always-handoff runner-up make a bot-answered top intent confident.
        let under = scores(&[0.05, 0.4, 0.5], 0.05, 0.9);
        assert_eq!(under.decide(&T, 0.6, mode).2, Reason::Ambiguous);
    }
}
