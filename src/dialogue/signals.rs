//! What a customer message says beyond its intent: an explicit request for a person, and how the
//! customer feels (a lexicon sentiment score and frustration signals: angry wording, ALL CAPS, "!!").
//!
//! The word lists are per locale in `_dialogue.yaml`; every message is checked against all of them,
//! since a customer may switch languages. Matching is on the NFKC, lower-cased text; ASCII terms match
//! whole words only ("agent" does not match "agents'" … but does match "agent!").
use super::config::{DialogueConfig, FrustrationConfig};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

pub use super::words::{fold, Lexicon};

/// A frustration signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    AngryWords,
    AllCaps,
    /// "!!", "？？", "?!".
    Punctuation,
    NegativeSentiment,
    /// The previous message was already a miss.
    PreviousMiss,
}

/// What one message shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// -1 .. 1.
    pub score: f32,
    pub signals: Vec<Signal>,
    pub frustrated: bool,
}

/// The compiled word lists of every locale.
#[derive(Debug, Clone)]
pub struct Signals {
    explicit_request: Lexicon,
    angry: Lexicon,
    positive: Lexicon,
    negative: Lexicon,
    config: FrustrationConfig,
}

impl Signals {
    pub fn new(config: &DialogueConfig) -> Self {
        let all = |f: fn(&super::config::LocaleText) -> &Vec<String>| {
            Lexicon::new(config.locales.values().flat_map(f))
        };
        Self {
            explicit_request: all(|t| &t.explicit_request),
            angry: all(|t| &t.angry_words),
            positive: all(|t| &t.sentiment.positive),
            negative: all(|t| &t.sentiment.negative),
            config: config.frustration.clone(),
        }
    }

    /// Does the message ask for a person in so many words?
    pub fn explicit_request(&self, text: &str) -> bool {
        self.explicit_request.any(&fold(text))
    }

    /// Sentiment and frustration of `text`; `previous_miss` when the bot missed the message before.
    pub fn read(&self, text: &str, previous_miss: bool) -> Reading {
        let folded = fold(text);
        let angry = self.angry.found(&folded).len();
        let positive = self.positive.found(&folded).len();
        let negative = self.negative.found(&folded).len();
        let raw = positive as f32 - negative as f32 - 2.0 * angry as f32;
        let score = (raw / 2.0).clamp(-1.0, 1.0);

        let c = &self.config;
        let mut signals = Vec::new();
        if angry > 0 {
            signals.push(Signal::AngryWords);
        }
        // Shouting or "!!" in a happy message is enthusiasm, not frustration.
        if score <= 0.0 {
            if all_caps(text, c.all_caps_min_words, c.all_caps_min_share) {
                signals.push(Signal::AllCaps);
            }
            if c.punctuation_run > 0 && punctuation_run(text) >= c.punctuation_run {
                signals.push(Signal::Punctuation);
            }
        }
        if score <= c.negative_score {
            signals.push(Signal::NegativeSentiment);
        }
        if previous_miss {
            signals.push(Signal::PreviousMiss);
        }
        let w = &c.weights;
        let total: u32 = signals
            .iter()
            .map(|s| match s {
                Signal::AngryWords => w.angry_words,
                Signal::AllCaps => w.all_caps,
                Signal::Punctuation => w.punctuation,
                Signal::NegativeSentiment => w.negative_sentiment,
                Signal::PreviousMiss => w.previous_miss,
            })
            .sum();
        Reading {
            score,
            frustrated: c.threshold > 0 && total >= c.threshold,
            signals,
        }
    }
}

/// English words of two letters or more, mostly upper case.
fn all_caps(text: &str, min_words: usize, min_share: f32) -> bool {
    let text: String = text.nfkc().collect();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .collect();
    let caps = words
        .iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_uppercase()))
        .count();
    min_words > 0 && caps >= min_words && caps as f32 >= min_share * words.len() as f32
}

/// The longest run of "!" and "?" (any width).
fn punctuation_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in text.nfkc() {
        if matches!(c, '!' | '?') {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_terms_match_whole_words_and_others_anywhere() {
        let l = Lexicon::new(&["agent".to_string(), "担当者".to_string()]);
        assert!(l.any(&fold("Can I talk to an AGENT?")));
        assert!(!l.any(&fold("user-agents are fine")));
        assert!(l.any(&fold("担当者につないでください")));
    }

    #[test]
    fn caps_and_punctuation() {
        assert!(all_caps("WHERE IS MY ORDER", 3, 0.6));
        assert!(!all_caps("I bought it from ABC USA LLC last week", 3, 0.6));
        assert!(!all_caps("OK GO", 3, 0.6));
        assert!(all_caps("ＷＨＥＲＥ ＩＳ ＭＹ ＯＲＤＥＲ", 3, 0.6));
        assert_eq!(punctuation_run("まだですか？？！"), 3);
        assert_eq!(punctuation_run("Really? Yes."), 1);
    }
}
