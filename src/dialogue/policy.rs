//! The per-turn decision ([`Dialogue::turn`]). For each customer message, in this order:
//!
//! 1. Remember the entities it holds, its language, its words and its sentiment.
//! 2. A person has the conversation: stay silent.
//! 3. An explicit request for a person (the intent, or a phrase of `_dialogue.yaml`) hands off: it
//!    always wins, even over a confident other intent.
//! 4. Frustration hands off with an empathetic line.
//! 5. After "A or B?", a message that picks one (the quick-reply value, a label) answers it.
//! 6. After asking for a detail, a message carrying it answers the waiting intent, even when the message
//!    alone classifies as something else or nothing ("MD12345678").
//! 7. Otherwise the classification decides: confident → answer (first asking for a required detail the
//!    conversation lacks); ambiguous → "A or B?"; an always-handoff intent → hand off; low confidence
//!    or out of scope → a miss.
//!
//! A miss asks to rephrase (or, out of scope, says honestly what the bot can help with);
//! `policy.max_misses` misses in a row hand off. Handing off outside business hours says when a
//! person will answer.
use std::ops::ControlFlow::{self, Break, Continue};

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use minijinja::Value;
use rand::seq::SliceRandom;

use super::config::{Script, PREVIOUS_INTENT};
use super::context::Context;
use super::engine::{Dialogue, IntentInfo};
use super::entities::{Extraction, FacetValues, Found};
use super::respond::{template_vars, Line, Vars};
use super::signals::{fold, Reading};
use super::state::{
    clip, AlsoAsked, BotAnswer, Candidate, CustomerMessage, DialogueState, MissKind,
    PendingClarification, PendingSlot, SentimentSignal, TimelineEntry,
};
use super::types::{BotTurn, HandoffRequest, QuickReply, Sentence, TurnInput};
use crate::catalog::{HandoffMode, VariableSpec, Waiver};
use crate::domain::{Action, HandoffReason, IntentName, Locale, Reason, TurnKind};
use crate::nlu::Classification;

/// A facet that at most this many intents answer in their own words tells them apart from the
/// rest (see `Ctx::specific_facets`).
const SPECIFIC_FACET_INTENTS: usize = 2;

/// Customer messages are kept (for the summary) up to this many characters.
const MAX_KEPT_CHARS: usize = 1000;
/// Stands in for a detail not given yet when asking whether an answer would turn on a facet.
const AWAITED_PLACEHOLDER: &str = "…";
/// At most this many intents offered for a vague request.
const MAX_CHOICES: usize = 4;

/// What a message holding nothing but an entity means.
enum EntityAlone {
    /// The running topic, which was waiting for it.
    Topic(IntentName),
    /// One of these intents: the customer chooses.
    Choices(Vec<IntentName>),
    /// The detail the last answer told the customer to give a person.
    ForAPerson,
}

/// An opening and a closing courtesy count as one the classifier cannot tell apart when the
/// runner-up has at least this share of the favourite's probability ("bye" with greeting at
/// 0.01 is a goodbye wherever it comes).
const COURTESY_TIE_SHARE: f32 = 0.2;

impl Dialogue {
    /// Decides the bot's side of one turn and updates `state`. Never fails: a template that cannot
    /// render (which startup checks rule out) is logged and the conversation goes to a person.
    #[tracing::instrument(skip_all, fields(turn = state.turn + 1))]
    pub fn turn(&self, state: &mut DialogueState, input: TurnInput<'_>) -> BotTurn {
        let merged = self.merge_split_courtesy(state, input.classification);
        let input = match &merged {
            Some(classification) => TurnInput {
                classification,
                ..input
            },
            None => input,
        };
        state.turn += 1;
        let turn = state.turn;
        let c = input.classification;
        let asked = state.pending_slot.as_ref().map(|s| s.variable.as_str());
        let extraction = self.extractor.extract_reply(input.text, asked);
        for f in &extraction.found {
            state.remember_entity(&f.name, &f.value, turn);
        }
        let mut locale = self.pick_locale(state, input.locale, &extraction);
        let requested = self
            .context
            .requested_language(input.text)
            .filter(|l| self.locales.contains(l))
            .cloned();
        if let Some(asked) = &requested {
            state.locale = Some(asked.clone());
            locale = asked.clone();
        }
        state.messages.push(CustomerMessage {
            turn,
            text: clip(input.text, MAX_KEPT_CHARS),
            intent: c.intent.clone(),
            confidence: c.confidence,
        });
        let reading = self.signals.read(input.text, state.misses > 0);
        state.sentiment.push(SentimentSignal {
            turn,
            score: reading.score,
            signals: reading.signals.clone(),
            frustrated: reading.frustrated,
        });
        if state.handed_off {
            return BotTurn {
                reply: None,
                action: Action::Handoff,
                intent: c.intent.clone(),
                confidence: c.confidence,
                quick_replies: Vec::new(),
                handoff: None,
                kind: TurnKind::Silent,
            };
        }
        Ctx {
            d: self,
            state,
            input,
            locale,
            facets: extraction.facets.clone(),
            question: clip(input.text, MAX_KEPT_CHARS),
            extraction,
            reading,
            language_request: requested.is_some(),
            also: None,
        }
        .decide()
    }

    /// Courtesy the classifier spreads over several courtesy intents, none of them sure ("thanks
    /// bye": thanks 0.50, goodbye 0.46): together they are sure it is courtesy, so the message is
    /// read as the courtesy its two likeliest make ([`courtesy_of_pair`]; the favourite otherwise),
    /// with their joint probability.
    /// `None` when the classification is not such a split.
    fn merge_split_courtesy(
        &self,
        state: &DialogueState,
        c: &Classification,
    ) -> Option<Classification> {
        let context = &self.context;
        let top = c.intent.as_ref().filter(|i| context.is_small_talk(i))?;
        if c.action != Action::Clarify || c.reason == Reason::OutOfScope {
            return None;
        }
        let (courtesy, rest): (Vec<_>, Vec<_>) = c
            .alternatives
            .iter()
            .cloned()
            .partition(|a| context.is_small_talk(&a.intent));
        let together = c.confidence + courtesy.iter().map(|a| a.confidence).sum::<f32>();
        if together < self.config.policy.courtesy_min_confidence {
            return None;
        }
        let answered = !state.answers.is_empty();
        let pick = courtesy
            .first()
            .and_then(|second| courtesy_of_pair(context, answered, top, &second.intent))
            .unwrap_or_else(|| top.clone());
        Some(Classification {
            text: c.text.clone(),
            intent: Some(pick),
            confidence: together,
            action: Action::Answer,
            reason: Reason::Confident,
            alternatives: rest,
            threshold: c.threshold,
        })
    }

    /// The language of this reply. The conversation starts in its chosen locale (when given and
    /// known) and then follows the customer message by message: the script of the message decides
    /// (kana → Japanese), and a message of `switch_min_words` or more English words switches to
    /// the fallback; shorter Latin text ("OK", an order number) keeps the current language.
    fn pick_locale(
        &self,
        state: &mut DialogueState,
        given: Option<&Locale>,
        extraction: &Extraction,
    ) -> Locale {
        let lang = &self.config.language;
        if state.locale.is_none() {
            state.locale = given.filter(|l| self.locales.contains(l)).cloned();
        }
        // Order numbers and e-mails say nothing about the language.
        let residual = extraction.residual();
        let by_script = residual
            .chars()
            .find_map(|c| Script::of(c).and_then(|s| lang.scripts.get(&s)));
        let latin_words = residual
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() >= 2)
            .count();
        match (by_script, &state.locale) {
            (Some(l), _) => state.locale = Some(l.clone()),
            (None, None) if latin_words > 0 => state.locale = Some(lang.fallback.clone()),
            (None, Some(current))
                if *current != lang.fallback && latin_words >= lang.switch_min_words =>
            {
                state.locale = Some(lang.fallback.clone());
            }
            _ => {}
        }
        state
            .locale
            .clone()
            .unwrap_or_else(|| lang.fallback.clone())
    }
}

/// One turn being decided.
struct Ctx<'d, 's, 'i> {
    d: &'d Dialogue,
    state: &'s mut DialogueState,
    input: TurnInput<'i>,
    locale: Locale,
    extraction: Extraction,
    reading: Reading,
    /// What exactly is asked (see `EntitySpec::facet`): of this message, and of the question it
    /// answers when it picks a choice or gives a detail the bot asked for.
    facets: Vec<Found>,
    /// The question being answered (this message, or the one the bot asked back about).
    question: String,
    /// The message asks the bot to use another language (already switched to).
    language_request: bool,
    /// Another question of the message, answered after the one this turn answers (its intent
    /// and variables).
    also: Option<(IntentName, Vars)>,
}

impl Ctx<'_, '_, '_> {
    fn decide(mut self) -> BotTurn {
        let d = self.d;
        let c = self.input.classification;
        let policy = &d.config.policy;
        let pending_clarification = self.state.pending_clarification.take();
        let pending_slot = self.state.pending_slot.take();
        let confident =
            c.intent.is_some() && matches!(c.reason, Reason::Confident | Reason::AlwaysHandoff);

        // "Can you reply in English? My order number is MD12345678" to "which order?": the
        // number answers the question, in English (the reply below takes it).
        let gives_pending_slot = pending_slot
            .as_ref()
            .is_some_and(|slot| self.extraction.get(&slot.variable).is_some());
        if self.language_request && !gives_pending_slot {
            // "Could you answer in English? How much is shipping?": the question, in English.
            if let Some(intent) = self.asked_besides_the_language() {
                return self.answer(&intent, c.confidence);
            }
            // "Can you help me in English? 注文について質問があります": the order choices, in
            // English.
            if let Some(intents) = self.vague_besides_the_language() {
                return self.choose(intents);
            }
            return self.again_in_requested_language(pending_clarification, pending_slot);
        }
        if let Some(opening) =
            self.acknowledged_before_anything_said(&pending_clarification, &pending_slot)
        {
            // "ok" as the first message: nothing has helped yet to be thanked for.
            return self.answer(&opening, c.confidence);
        }
        // "It still doesn't work" right after an answer is about that answer, however the
        // classifier reads it (a broken item, a wish for a person): the bot has said what it
        // knows, so a person takes over, with the topic.
        if let Some(topic) = self.answer_that_did_not_help() {
            return self.hand_over(HandoffReason::Unresolved, None, Some(topic));
        }
        let answered_instead = self.answered_instead();
        let explicit_intent = c.intent.clone().filter(|i| {
            confident
                && policy.explicit_request_intents.contains(i)
                && answered_instead.is_none()
                && !self.points_back_unsurely()
                && !(pending_slot.is_some() && self.asks_what_now())
                // "先月バッグを購入した者です" may read as a wish for a person; it only says who
                // is writing, and what they want comes next.
                && self.background_choices().is_none()
        });
        // "わかりません" to "your order number?" says the customer has none, however much it reads
        // like "I don't understand, get me a person" on its own; words that ask for one still do.
        let declines_detail = pending_slot.is_some() && d.context.declines(self.input.text);
        // "Is this a real person?" holds the words of a request for one, but asks a question.
        let asks_about_the_bot = answered_instead.is_some() && is_question(self.input.text);
        if (explicit_intent.is_some() && !declines_detail)
            || (d.signals.explicit_request(self.input.text) && !asks_about_the_bot)
        {
            return self.handoff(HandoffReason::ExplicitRequest, explicit_intent);
        }
        if self.reading.frustrated {
            return self.handoff(HandoffReason::Frustration, None);
        }
        if self.asks_what_only_a_person_grants() {
            // Said as a complaint is: sorry, a person takes it, the order number helps.
            let complaint = d.config.policy.complaint_intents.first().cloned();
            return self.handoff(HandoffReason::Complaint, complaint);
        }
        if let Some(intent) = self.asks_what_only_a_person_knows() {
            return self.handoff(d.config.reason_for_intent(&intent), Some(intent));
        }
        if self.tries_to_steer_the_bot() {
            return self.miss(MissKind::OutOfScope);
        }
        if let Some(intent) = answered_instead {
            return self.answer(&intent, c.confidence);
        }
        if let Some(close) = self.withdrawn_after_answer() {
            return self.answer(&close, c.confidence);
        }
        if let Some(p) = pending_clarification {
            self = match self.reply_to_choice(p) {
                Break(turn) => return turn,
                Continue(policy) => policy,
            };
        }
        if let Some(slot) = pending_slot {
            self = match self.reply_to_slot(slot, confident) {
                Break(turn) => return turn,
                // Something else entirely: the classification decides below.
                Continue(policy) => policy,
            };
        }
        if let Some(intents) = self.vague_choices() {
            return self.choose(intents);
        }
        match self.entity_alone() {
            Some(EntityAlone::Topic(topic)) => {
                // "MD12345678" after "can I return one of the items?": still only some of them.
                self.follow_on_last_answer();
                return self.answer(&topic, c.confidence);
            }
            Some(EntityAlone::Choices(intents)) => return self.choose(intents),
            // The answer said to give it to a person: asking for one, in effect.
            Some(EntityAlone::ForAPerson) => return self.handoff(HandoffReason::Referred, None),
            None => {}
        }
        if let Some(topic) = self.running_topic() {
            // "期限は？" after a coupon answer asks about the coupon's deadline: what the earlier
            // question asked still holds where this one says nothing.
            self.follow_on_last_answer();
            return self.answer(&topic, c.confidence);
        }
        if let Some(intents) = self.background_choices() {
            return self.choose(intents);
        }
        self.classified()
    }

    /// What a message asking for another language asks besides: an intent other than courtesy
    /// that the message, or one of its sentences, surely is.
    fn asked_besides_the_language(&self) -> Option<IntentName> {
        let context = &self.d.context;
        let c = self.input.classification;
        // Of a message of several sentences, the one that asks: the whole, the language request
        // included, is a blend ("Hi, can you help me in English please? 注文について質問があります"
        // read as shipping fees).
        let whole = c
            .intent
            .as_ref()
            .filter(|_| c.reason == Reason::Confident && self.input.sentences.is_empty());
        whole
            .into_iter()
            .chain(self.input.sentences.iter().filter_map(sure_intent))
            .find(|i| !context.is_small_talk(i))
            .cloned()
    }

    /// A vague request beside the request for a language ("…in English please? 注文について質問が
    /// あります"): its topic's choices.
    fn vague_besides_the_language(&self) -> Option<Vec<IntentName>> {
        let context = &self.d.context;
        let mut texts: Vec<&str> = self
            .input
            .sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        texts.push(self.input.text);
        let intents = texts.into_iter().find_map(|t| context.vague_topic(t))?;
        self.ranked_choices(intents)
    }

    /// "Can you answer in English?": what the bot last said, again in the language asked for —
    /// the question it waits on, or its last answer (with what that question asked); a greeting
    /// when it has said nothing yet.
    fn again_in_requested_language(
        mut self,
        clarification: Option<PendingClarification>,
        slot: Option<PendingSlot>,
    ) -> BotTurn {
        if let Some(slot) = slot {
            return self.ask_slot(slot, None);
        }
        if let Some(p) = clarification {
            self.question = p.text.clone();
            return self.choose(p.candidates.into_iter().map(|c| c.intent).collect());
        }
        let context = &self.d.context;
        let last = self.state.answers.last();
        match last.filter(|a| !context.is_small_talk(&a.intent)) {
            Some(last) => {
                let (intent, question) = (last.intent.clone(), last.question.clone());
                self.inherit_facets(&question);
                self.question = question;
                let confidence = self.input.classification.confidence;
                self.answer(&intent, confidence)
            }
            None => match context.language_request_reply() {
                Some(reply) => self.answer(&reply.clone(), 1.0),
                None => self.miss(MissKind::LowConfidence),
            },
        }
    }

    /// A reply to "A or B?": the choice made, or what is left of the choice once the reply gave
    /// a detail instead ("MD12345678": the choices that use it); `Continue` when it is neither.
    fn reply_to_choice(mut self, p: PendingClarification) -> ControlFlow<BotTurn, Self> {
        if let Some(chosen) = self.choice(&p) {
            if self
                .d
                .config
                .policy
                .explicit_request_intents
                .contains(&chosen)
            {
                // The offered person, taken: not the question the offer followed again.
                return Break(self.handoff(HandoffReason::ExplicitRequest, Some(chosen)));
            }
            self.continue_question(&p.text);
            return Break(self.answer(&chosen, 1.0));
        }
        if let Some(about) = self.choice_asked_about(&p) {
            self.follow_on(&p.text);
            let confidence = self.input.classification.confidence;
            return Break(self.answer(&about, confidence));
        }
        if let Some((leaned, confidence)) = self.choice_leaned_to(&p) {
            self.follow_on(&p.text);
            return Break(self.answer(&leaned, confidence));
        }
        if self.entity_alone().is_none() {
            return Continue(self);
        }
        let fitting: Vec<Candidate> = p
            .candidates
            .iter()
            .filter(|cand| self.uses_given_entity(&cand.intent))
            .cloned()
            .collect();
        if fitting.is_empty() {
            return Continue(self);
        }
        self.continue_question(&p.text);
        Break(self.ask_again(fitting))
    }

    /// A reply to the question for a detail: the value (with polite words around it), "I don't
    /// have it", a question about the same topic instead, courtesy, or a miss; `Continue` when the
    /// message is about something else entirely.
    fn reply_to_slot(mut self, slot: PendingSlot, confident: bool) -> ControlFlow<BotTurn, Self> {
        let d = self.d;
        let c = self.input.classification;
        let given = self.extraction.get(&slot.variable).is_some();
        let is = |check: fn(&Context, &IntentName) -> bool| {
            c.intent.as_ref().is_some_and(|i| check(&d.context, i))
        };
        // "Sure, it's MD12345678, thanks!" reads as thanks, but it answers the question; courtesy
        // that neither gives nor tries to give the value ("ok thanks, bye") is its own reply. A
        // bare "ok" is neither: the question stands.
        let closing = is(Context::is_closing)
            && !given
            && !self.tried_a_value()
            && !d.context.is_acknowledgement(self.input.text);
        let other = confident
            && c.intent.as_ref() != Some(&slot.intent)
            && (!is(Context::is_small_talk) || closing);
        if !given && d.context.asks_where_to_find(self.input.text) {
            // "Where can I find it?": where it is written, and the question again (not a miss).
            let help = self.slot_help(&slot.variable);
            return Break(self.ask_slot(slot, help));
        }
        if !given && d.context.declines(self.input.text) {
            return Break(self.declined_slot(slot));
        }
        // "Never mind": the question is dropped, with a polite close, not asked again ("ok never
        // mind, thanks" is already thanks).
        if let Some(reply) = d.context.withdrawal_reply(self.input.text) {
            let otherwise_read = given || self.tried_a_value() || (confident && closing);
            if !otherwise_read {
                return Break(self.answer(reply, c.confidence));
            }
        }
        // The classifier's best guess (however unsure: "it doesn't fit" on a return), or one of
        // two it cannot tell apart; or a question it cannot place at all, asked while on this
        // topic ("do I need the original box?").
        let runner_up = c.alternatives.first().map(|a| &a.intent);
        // "What are my options?", "what can I do?" mean nothing on their own (or read as small
        // talk): a short question that points back asks about the waiting topic.
        let points_back = || self.short_question_pointing_back();
        let same_topic = match c.reason {
            Reason::Confident => c.intent.as_ref() == Some(&slot.intent) || self.asks_what_now(),
            Reason::AlwaysHandoff => self.asks_what_now(),
            Reason::Ambiguous => {
                c.intent.as_ref() == Some(&slot.intent) || runner_up == Some(&slot.intent)
            }
            Reason::LowConfidence => {
                c.intent.as_ref() == Some(&slot.intent) || is_question(self.input.text)
            }
            Reason::OutOfScope => points_back(),
        } || self.asks_about_the_topic(&slot)
            // "And if I paid by bank transfer?" while a refund waits for its order number: a
            // question that points back, about what the waiting answer has words for.
            || (points_back()
                && self.answer_depends_on_facets(
                    &slot.intent,
                    &slot.question,
                    Some(slot.variable.as_str()),
                ));
        if !given && same_topic && !self.tried_a_value() && self.waived_when_declined(&slot) {
            // "Do I need the original box?" instead of the number: a question about the topic
            // whose answer can do without it is answered, not met with the same question.
            self.state.declined_details.insert(slot.variable.clone());
            self.follow_on(&slot.question);
            return Break(self.answer(&slot.intent.clone(), c.confidence));
        }
        let max_extra = d.config.policy.slot_reply_max_extra_chars;
        let covered = || {
            c.intent
                .as_ref()
                .is_some_and(|i| d.config.policy.covers(&slot.intent, i))
        };
        // A request for another language around the value is no new topic ("Can you reply in
        // English? My order number is MD12345678").
        let plain_reply = !other || self.language_request;
        if given && (plain_reply || self.extraction.extra_chars() <= max_extra || covered()) {
            self.continue_question(&slot.question);
            self.answer_also_asked(slot.also.clone());
            return Break(self.answer(&slot.intent.clone(), slot.confidence));
        }
        if let Some(other_intent) = c.intent.clone().filter(|_| given && other) {
            if self.answers_besides_the_slot(&slot, &other_intent) {
                return Break(self.answer(&slot.intent.clone(), slot.confidence));
            }
        }
        // "It hasn't shipped yet" while the bot waits for the number of the order to cancel: more
        // about the request, which still needs the number (and so would the other intent), so
        // the question stands, where to find the number with it.
        // "Lサイズにしたいです" while the bot waits for the number of the item to exchange: what
        // the waiting answer covers is more of the same request, not a new one.
        let background = other && !given && (self.background_to(&slot) || covered());
        // "まだ届いてないです" to "which order would you like to exchange?": what the reply adds
        // makes the detail unnecessary (nothing delivered, nothing to exchange yet), so the
        // waiting request is answered with it rather than asked again; so is "what if it's been
        // 35 days?", whose number is no try at an order number.
        if !given && (!other || background) && self.waives_slot(&slot) {
            self.follow_on(&slot.question);
            return Break(self.answer(&slot.intent.clone(), slot.confidence));
        }
        if given || (other && !background) {
            return Continue(self);
        }
        if self.count_miss(MissKind::SlotNotGiven) {
            return Break(self.handoff(HandoffReason::DetailMissing, None));
        }
        let hint = match background {
            true => self.slot_help(&slot.variable),
            false => self.slot_hint(&slot.variable),
        };
        Break(self.ask_slot(slot, hint))
    }

    /// The message, confidently another intent, only states something (no question, no request)
    /// and that intent would ask for the very detail the bot waits for: background to the
    /// pending request (itself a question or a request) rather than a new one.
    fn background_to(&self, slot: &PendingSlot) -> bool {
        let Some(intent) = self.input.classification.intent.as_ref() else {
            return false;
        };
        let needs_same_detail = self.d.intents.get(intent).is_some_and(|info| {
            info.variables
                .get(&slot.variable)
                .is_some_and(|spec| spec.required && !self.waives(&slot.variable, &spec.waived))
        });
        // The request must have been one: after "I ordered yesterday, but…" (a preface, read as
        // an order's status), "I typed the wrong address" is the request itself.
        let pending_was_a_request = is_question(&slot.question)
            || !self.d.context.only_states(&slot.question, &slot.intent);
        needs_same_detail
            && pending_was_a_request
            && !is_question(self.input.text)
            && self.d.context.only_states(self.input.text, intent)
    }

    /// A short message about the waiting topic instead of the detail asked for: "写真は必要ですか"
    /// while the bot waits for the order number of a broken item, "I paid by card" for a
    /// refund's. Its facets change the topic's answer, and the classifier places it elsewhere only
    /// unsurely (or in a catch-all such as `other_question`), or it states something every word
    /// of which the topic's answer turns on.
    fn asks_about_the_topic(&self, slot: &PendingSlot) -> bool {
        let awaited = Some(slot.variable.as_str());
        let Some(unsure) = self.short_and_placed() else {
            return false;
        };
        let statement_on_topic =
            || !is_question(self.input.text) && self.every_facet_matters(&slot.intent, awaited);
        // "What if I lost the receipt?" while a return waits for its number: surely the receipt
        // intent, whose answer has no words for a lost receipt; the return's has, for all of it
        // ("カードが使えません" for a refund: the refund's answer has none for "doesn't work").
        let c = self.input.classification;
        let elsewhere_without_words = || {
            c.reason == Reason::Confident
                && c.intent
                    .as_ref()
                    .is_some_and(|i| self.has_no_words_for_it(i))
                && self.every_facet_matters(&slot.intent, awaited)
        };
        (unsure || statement_on_topic() || elsewhere_without_words())
            && self.answer_depends_on_facets(&slot.intent, &slot.question, awaited)
    }

    /// `intent` answers (not courtesy, not always a person), but its answer has no words for what
    /// this message asks (its facets change nothing in it).
    fn has_no_words_for_it(&self, intent: &IntentName) -> bool {
        !self.d.context.is_small_talk(intent)
            && self
                .d
                .intents
                .get(intent)
                .is_some_and(|info| info.handoff != HandoffMode::Always)
            && !self.answer_depends_on_facets(intent, "", None)
    }

    /// For a short message that may be a detail of what the bot is on: whether the classifier
    /// places it elsewhere only unsurely (or in a catch-all such as `other_question`). `None` for a
    /// long message, and for a complaint or a request for a person, never read as such a detail.
    fn short_and_placed(&self) -> Option<bool> {
        let c = self.input.classification;
        let follow_up = self.d.context.follow_up();
        let catch_all = c
            .intent
            .as_ref()
            .is_some_and(|i| follow_up.catch_all_intents.contains(i));
        let for_a_person = c.reason == Reason::AlwaysHandoff && !catch_all;
        if for_a_person || !self.d.context.is_short(self.input.text) {
            return None;
        }
        Some(c.intent.is_none() || c.confidence < follow_up.override_below || catch_all)
    }

    /// A short question pointing back that no topic of its own would answer ("what are my
    /// options?", "どうすればいいですか"), read as courtesy, a catch-all (feedback, another
    /// question) or a wish for a person without a word asking for one: it asks what to do about
    /// the topic the bot is on, however sure the classifier is of its reading.
    fn asks_what_now(&self) -> bool {
        let d = self.d;
        let text = self.input.text;
        let nowhere = self.input.classification.intent.as_ref().is_some_and(|i| {
            d.context.is_small_talk(i)
                || d.context.follow_up().catch_all_intents.contains(i)
                || d.config.policy.explicit_request_intents.contains(i)
        });
        nowhere && self.short_question_pointing_back() && !d.signals.explicit_request(text)
    }

    /// A short question that points back ("what are my options?", "どうすればいいですか").
    fn short_question_pointing_back(&self) -> bool {
        let text = self.input.text;
        is_question(text) && self.d.context.is_short(text) && self.d.context.points_back(text)
    }

    /// A question about the offered intents ("do I have to send photos?" after "a delivery
    /// problem or a broken item?"): its facets, by themselves, change the answer of the likeliest
    /// offered intent that has words for it (of one, when only one has).
    fn choice_asked_about(&self, p: &PendingClarification) -> Option<IntentName> {
        // "How long will it take?" reads as an order's status however sure the classifier is,
        // but it points back at the two intents the customer's own message hesitated between
        // (not at topics merely suggested, nor at a person offered).
        let text = self.input.text;
        let points_back = p.candidates.len() == 2
            && self.d.context.is_short(text)
            && self.d.context.points_back(text);
        if self.short_and_placed() != Some(true) && !points_back {
            return None;
        }
        p.candidates
            .iter()
            .find(|cand| self.answer_depends_on_facets(&cand.intent, "", None))
            .map(|cand| cand.intent.clone())
    }

    /// A short reply to the choices that names none of them and that the classifier cannot
    /// place alone ("Where is it?" after the order choices: out of scope 0.34, order_status
    /// 0.34), but which, among the offered intents, leans clearly to one (see
    /// `policy.choice_lean_*`): that one, with its probability. An offered intent the classifier
    /// does not list is counted as likely as its least likely listed one.
    fn choice_leaned_to(&self, p: &PendingClarification) -> Option<(IntentName, f32)> {
        let c = self.input.classification;
        let unsure = matches!(
            c.reason,
            Reason::LowConfidence | Reason::OutOfScope | Reason::Ambiguous
        );
        if !unsure || p.candidates.len() < 2 || !self.d.context.is_short(self.input.text) {
            return None;
        }
        let listed: Vec<(&IntentName, f32)> = c
            .intent
            .iter()
            .map(|i| (i, c.confidence))
            .chain(c.alternatives.iter().map(|a| (&a.intent, a.confidence)))
            .collect();
        let unlisted = listed.iter().map(|(_, prob)| *prob).fold(1.0f32, f32::min);
        let mut ranked: Vec<(f32, &IntentName)> = p
            .candidates
            .iter()
            .map(|cand| {
                let listed = listed.iter().find(|(i, _)| **i == cand.intent);
                (listed.map_or(unlisted, |(_, prob)| *prob), &cand.intent)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let policy = &self.d.config.policy;
        let (best, intent) = ranked[0];
        let second = ranked[1].0;
        (best >= policy.choice_lean_min_confidence && best >= policy.choice_lean_ratio * second)
            .then(|| (intent.clone(), best))
    }

    /// The customer says they do not have the detail asked for ("I haven't ordered yet"): the
    /// intent answers without it when its catalog entry allows; otherwise the bot says where to
    /// find it and asks once more (a miss: the next one goes to a person), never the bare
    /// question again.
    fn declined_slot(mut self, slot: PendingSlot) -> BotTurn {
        if self.waived_when_declined(&slot) {
            self.state.declined_details.insert(slot.variable.clone());
            self.continue_question(&slot.question);
            return self.answer(&slot.intent.clone(), slot.confidence);
        }
        if self.count_miss(MissKind::SlotNotGiven) {
            return self.handoff(HandoffReason::DetailMissing, None);
        }
        let help = self.slot_help(&slot.variable);
        self.ask_slot(slot, help)
    }

    /// Where the customer finds the detail `variable` (`slot_help` in the conversation's locale).
    fn slot_help(&self, variable: &str) -> Option<String> {
        let text = self.d.config.text(&self.locale)?;
        text.slot_help.get(variable).cloned()
    }

    /// Whether the intent answers without the detail asked for when the customer has none.
    fn waived_when_declined(&self, slot: &PendingSlot) -> bool {
        self.slot_spec(slot)
            .is_some_and(|spec| spec.waived.declined)
    }

    /// What the catalog says of the variable the bot waits for.
    fn slot_spec(&self, slot: &PendingSlot) -> Option<&VariableSpec> {
        self.d
            .intents
            .get(&slot.intent)
            .and_then(|info| info.variables.get(&slot.variable))
    }

    /// The message seems to have tried to give a value: a run of at least four digits (dashes
    /// and spaces between them allowed), or MD and a digit. "I ordered a 24 but need a 25" gives
    /// sizes, not a mistyped order number.
    fn tried_a_value(&self) -> bool {
        tried_a_number(self.input.text)
    }

    /// What a valid value looks like, when the message seems to have tried to give one but held
    /// none; where to find it otherwise.
    fn slot_hint(&self, variable: &str) -> Option<String> {
        // A wrong-format value is told what the format is; any other reply where to find it, so
        // the question is never repeated word for word.
        if self.tried_a_value() {
            return self.format_hint(variable);
        }
        self.slot_help(variable)
    }

    /// What a valid value of `variable` looks like, when the message tried one (an `attempted`
    /// pattern of its entity) and held none.
    fn attempt_hint(&self, variable: &str) -> Option<String> {
        if !self.extraction.attempts.iter().any(|a| a.name == variable) {
            return None;
        }
        self.format_hint(variable)
    }

    /// What a valid value of `variable` looks like (`slot_hints` in the conversation's locale).
    fn format_hint(&self, variable: &str) -> Option<String> {
        let text = self.d.config.text(&self.locale)?;
        text.slot_hints.get(variable).cloned()
    }

    /// The intents a vague request ("a question about an order") may mean, the classifier's
    /// favourites first.
    fn vague_choices(&self) -> Option<Vec<IntentName>> {
        let intents = self.d.context.vague_topic(self.input.text)?;
        self.ranked_choices(intents)
    }

    /// A message that only sets the scene ("Hi, my name is Ken. I ordered shoes last week",
    /// "先週靴を注文した田中です"), at the start or after courtesy: it names one topic, asks and
    /// requests nothing, holds no facet and no bad feeling, says little else (`vague.scene`),
    /// and the classifier is unsure of it, unless the customer introduced themself.
    /// The customer has not said what they want yet, so the topic's choices, not "could you put
    /// it another way?" or "I can't help with that".
    fn background_choices(&self) -> Option<Vec<IntentName>> {
        let text = self.input.text;
        let context = &self.d.context;
        let unsure = matches!(
            self.input.classification.reason,
            Reason::LowConfidence | Reason::OutOfScope | Reason::Ambiguous
        );
        let after_courtesy = self
            .recent_answer()
            .is_none_or(|a| context.is_small_talk(&a.intent));
        let no_sentence_asks = self
            .input
            .sentences
            .iter()
            .filter_map(sure_intent)
            .all(|i| context.is_small_talk(i));
        let says_nothing_more = !is_question(text)
            && !context.requests(text)
            && self.facets.iter().all(|f| context.sets_the_scene(f))
            && self.reading.score >= 0.0;
        if !(after_courtesy && says_nothing_more) {
            return None;
        }
        let scene = context.scene_topic(text)?;
        // "Hi, my name is Ken. I ordered shoes last week" may read as sure order_status: the
        // purchase is what the classifier heard, but an introduction asks nothing yet.
        if !(scene.introduced || (unsure && no_sentence_asks)) {
            return None;
        }
        self.ranked_choices(scene.intents)
    }

    /// What a message holding only an entity means ("MD12345678" alone): the running topic when
    /// it is one of the entity's intents (the number it was waiting for); a person, when the
    /// last answer told the customer to contact one with it; else the choices.
    fn entity_alone(&self) -> Option<EntityAlone> {
        let x = &self.extraction;
        // Only a try at a number ("MD-20261128-0007") stands for that number here: what follows
        // says what the format is.
        let tried = x.found.is_empty();
        let (given, residual) = match tried {
            true => (&x.attempts, x.residual_of_attempts()),
            false => (&x.found, x.residual()),
        };
        let found: Vec<&str> = given.iter().map(|f| f.name.as_str()).collect();
        let context = &self.d.context;
        let intents = context.vague_entity(found.iter().copied(), &residual)?;
        if let Some(a) = self.recent_answer() {
            // A person is no more able to use a mistyped number than the bot: the customer
            // learns the format first (the choices below say it).
            if !tried && found.iter().any(|e| context.hands_over(e, &a.intent)) {
                return Some(EntityAlone::ForAPerson);
            }
            // The number for a refund just explained without it ("MD12345678" after the refund
            // answer) is that refund's, not a choice of order topics; so is one for a receipt
            // just explained, whose answer then names the order.
            if intents.contains(&a.intent) || self.uses_given_entity(&a.intent) {
                return Some(EntityAlone::Topic(a.intent.clone()));
            }
        }
        self.ranked_choices(intents).map(EntityAlone::Choices)
    }

    /// `intents` of the catalog, the classifier's favourites first, at most [`MAX_CHOICES`].
    fn ranked_choices(&self, intents: &[IntentName]) -> Option<Vec<IntentName>> {
        let c = self.input.classification;
        let score = |i: &IntentName| {
            if c.intent.as_ref() == Some(i) {
                return c.confidence;
            }
            c.alternatives
                .iter()
                .find(|a| a.intent == *i)
                .map_or(0.0, |a| a.confidence)
        };
        let mut ranked: Vec<IntentName> = intents
            .iter()
            .filter(|i| self.d.intents.contains_key(*i))
            .cloned()
            .collect();
        ranked.sort_by(|a, b| score(b).total_cmp(&score(a)));
        ranked.truncate(MAX_CHOICES);
        (!ranked.is_empty()).then_some(ranked)
    }

    /// The bot's last answer, when it came within `follow_up.within_turns` turns: the topic a
    /// short follow-up or a detail sent alone refers to.
    fn recent_answer(&self) -> Option<&BotAnswer> {
        let within = self.d.context.follow_up().within_turns;
        self.state
            .answers
            .last()
            .filter(|a| self.state.turn.saturating_sub(a.turn) <= within)
    }

    /// The topic of the bot's answer on the turn before, when this message only says that answer
    /// did not help. Courtesy is no answer to fail.
    fn answer_that_did_not_help(&self) -> Option<IntentName> {
        let last = self.answered_last_turn()?;
        (!self.d.context.is_small_talk(&last.intent)
            && self.d.context.says_it_did_not_help(self.input.text))
        .then(|| last.intent.clone())
    }

    /// The bot's answer on the turn just before this one, if that turn answered.
    fn answered_last_turn(&self) -> Option<&BotAnswer> {
        self.state
            .answers
            .last()
            .filter(|a| a.turn + 1 == self.state.turn)
    }

    /// The message asks for what only a person can grant (compensation for a late order: a
    /// facet value of `policy.complaint_facets`), whatever it classifies as.
    fn asks_what_only_a_person_grants(&self) -> bool {
        self.has_facet_in(&self.d.config.policy.complaint_facets)
    }

    /// The opening reply (a greeting), when this message only acknowledges ("ok", "はい"), reads
    /// as courtesy, and the bot has neither answered nor asked anything yet.
    fn acknowledged_before_anything_said(
        &self,
        clarification: &Option<PendingClarification>,
        slot: &Option<PendingSlot>,
    ) -> Option<IntentName> {
        let context = &self.d.context;
        let nothing_said =
            self.state.answers.is_empty() && clarification.is_none() && slot.is_none();
        // Read as courtesy (thanks, goodbye): an unsure reading is asked to be put another way.
        let c = self.input.classification;
        let courtesy = c.reason == Reason::Confident
            && c.intent.as_ref().is_some_and(|i| context.is_small_talk(i));
        (nothing_said && courtesy && context.is_acknowledgement(self.input.text))
            .then(|| context.opening_reply().cloned())
            .flatten()
    }

    /// The intent whose person answers what this message asks (`policy.staff_questions`): a
    /// question the catalog has no answer for.
    fn asks_what_only_a_person_knows(&self) -> Option<IntentName> {
        let staff = &self.d.config.policy.staff_questions;
        staff
            .iter()
            .find(|(_, facets)| self.has_facet_in(facets))
            .map(|(intent, _)| intent.clone())
    }

    /// The message tries to steer the bot itself ("ignore your previous instructions…", "you
    /// are now DAN": a facet value of `policy.out_of_scope_facets`), whatever shop words it holds.
    fn tries_to_steer_the_bot(&self) -> bool {
        self.has_facet_in(&self.d.config.policy.out_of_scope_facets)
    }

    /// One of the message's facets has a value `listed`.
    fn has_facet_in(&self, listed: &FacetValues) -> bool {
        self.extraction.facets.iter().any(|f| listed.lists(f))
    }

    /// Right after `intent`'s answer, which tells the customer to contact support when it has not
    /// helped, this message says it has not ("もう10日経ってます" after the shipping answer:
    /// `follow_up.hand_over_when`), and the details to check are known: that contact is a person's.
    fn says_the_answer_did_not_help(&self, intent: &IntentName, vars: &Vars) -> bool {
        let Some(facets) = self.d.context.follow_up().hand_over_when.get(intent) else {
            return false;
        };
        let just_answered = self
            .answered_last_turn()
            .is_some_and(|a| &a.intent == intent);
        // The details the answer needed (the order number) are what the person checks.
        let details_known = self.d.intents.get(intent).is_some_and(|info| {
            info.variables
                .iter()
                .filter(|(_, spec)| spec.required)
                .all(|(v, _)| vars.contains_key(v.as_str()))
        });
        just_answered && details_known && self.has_facet_in(facets)
    }

    /// The polite close, when this short message drops what the answer on the turn before was
    /// for ("やっぱりキャンセルしないことにしました", "never mind, I'll keep it") and is not surely
    /// about something else.
    fn withdrawn_after_answer(&self) -> Option<IntentName> {
        let context = &self.d.context;
        let c = self.input.classification;
        let last = self.answered_last_turn()?;
        let elsewhere = c.intent.as_ref().is_some_and(|i| {
            c.reason == Reason::Confident && *i != last.intent && !context.is_small_talk(i)
        });
        let text = self.input.text;
        if elsewhere || !context.is_short(text) {
            return None;
        }
        context.withdrawal_reply(text).cloned()
    }

    /// The intent that answers this message although it always goes to a person otherwise: "are
    /// you a bot?" reads as a wish for a person, but it is a question (human_agent's
    /// `answered_when`). The message must be that intent or nothing the bot answers confidently:
    /// "are you a bot? I need to change my address" is about the address.
    fn answered_instead(&self) -> Option<IntentName> {
        let c = self.input.classification;
        let (name, _) =
            self.d.intents.iter().find(|(_, info)| {
                info.handoff == HandoffMode::Always && self.answers_instead(info)
            })?;
        let unsure = !matches!(c.reason, Reason::Confident | Reason::AlwaysHandoff);
        (c.intent.is_none() || c.intent.as_ref() == Some(name) || unsure).then(|| name.clone())
    }

    /// A facet of this message has a value under which `info` answers rather than hands off.
    fn answers_instead(&self, info: &IntentInfo) -> bool {
        self.facets.iter().any(|f| {
            info.answered_when
                .get(&f.name)
                .is_some_and(|values| values.contains(&f.value))
        })
    }

    /// What came just before the running topic, when this message continues it: after the
    /// cancellation answer, "will I get a refund?" then "how long will that take?" are both about
    /// the cancelled order's refund, not only the first. None when the bot did not just answer
    /// `intent`, or the topic did not follow another answer closely.
    fn topic_origin(&self, intent: &IntentName) -> Option<IntentName> {
        let within = self.d.context.follow_up().within_turns;
        let mut newer = self.recent_answer().filter(|a| &a.intent == intent)?;
        for answer in self.state.answers.iter().rev().skip(1) {
            if newer.turn.saturating_sub(answer.turn) > within {
                return None;
            }
            if &answer.intent != intent {
                return Some(answer.intent.clone());
            }
            newer = answer;
        }
        None
    }

    /// A short message pointing back to the answer just given, or asking what that answer has
    /// words for ("and my phone number?" after the e-mail change answer), placed elsewhere only
    /// unsurely and without words that ask for a person: the running topic's, not a wish for a
    /// person however it reads.
    fn points_back_unsurely(&self) -> bool {
        let context = &self.d.context;
        let text = self.input.text;
        let Some(last) = self.recent_answer() else {
            return false;
        };
        // The cheap checks first: the last one renders the topic's answer.
        context.is_short(text)
            && self.input.classification.confidence < context.follow_up().override_below
            && !self.d.signals.explicit_request(text)
            && (context.points_back(text)
                || self.answer_depends_on_facets(&last.intent, &last.question, None))
    }

    /// The topic the bot just answered, when this short message points back to it ("how long?",
    /// "それもキャンセルできますか") and does not clearly ask something else.
    fn running_topic(&self) -> Option<IntentName> {
        let d = self.d;
        let c = self.input.classification;
        let follow_up = d.context.follow_up();
        let last = self.recent_answer()?;
        let text = self.input.text;
        if !d.context.is_short(text) {
            return None;
        }
        let own = c
            .intent
            .as_ref()
            .filter(|_| matches!(c.reason, Reason::Confident | Reason::AlwaysHandoff));
        let topic_answers_it = || self.answer_depends_on_facets(&last.intent, &last.question, None);
        // A message understood on its own must point back; one that is not, or not surely
        // ("期限はありますか", "いつまでに送ればいいですか", "and a replacement?"), continues the
        // topic when the topic has words for what it asks. So does one that asks what only the
        // topic has words for ("注文履歴は消えますか" after the account-closing answer, however
        // sure the classifier is of `order_status`, whose answer has none for it), unless it is
        // courtesy or for a person.
        let catch_all = own.is_some_and(|i| follow_up.catch_all_intents.contains(i));
        let unsure = own.is_none() || c.confidence < follow_up.override_below || catch_all;
        let own_has_no_words = own.is_some_and(|i| self.has_no_words_for_it(i));
        // "まだ発送されていません" after "if it hasn't shipped yet, cancel and order again" says
        // which case holds: the topic's answer for it, however sure the classifier is.
        let states_a_case = self.facets.iter().any(|f| follow_up.cases.lists(f));
        // "I'm in Okinawa" after the delivery-time answer reads as an introduction (a greeting),
        // but it says where: an opening courtesy with a facet says more than hello.
        let opening_with_facets = own.is_some_and(|i| {
            d.context.is_small_talk(i) && !d.context.is_closing(i) && !self.facets.is_empty()
        });
        let restates = self.restates(last);
        let pointer = d.context.points_back(text);
        let continues = pointer
            || restates
            || ((unsure || own_has_no_words || opening_with_facets || states_a_case)
                && topic_answers_it());
        if !continues {
            return None;
        }
        // Courtesy ("thanks for that") is its own reply, unless the classifier only guessed it.
        // A question that points back ("what should I do now?") is never courtesy, however sure
        // the classifier is that it says goodbye.
        let courtesy = |i: &IntentName| {
            d.context.is_small_talk(i)
                && c.confidence >= follow_up.override_below
                && !is_question(text)
                && !opening_with_facets
        };
        match own {
            // The same topic again: what the earlier question asked still holds when this one asks
            // nothing of its own ("it was a pair of socks" after the missing-item answer).
            // So it does when this one points back and asks only what any topic may be asked
            // ("手数料はかかりますか" after "PayPayは使えますか" asks PayPay's fee).
            Some(i) if *i == last.intent => {
                let generic = &follow_up.generic_questions;
                let only_generic = self.facets.iter().all(|f| generic.lists(f));
                (self.facets.is_empty() || (pointer && only_generic)).then(|| last.intent.clone())
            }
            Some(i) if courtesy(i) => None,
            // A clear other topic, where the running one would only say again what it just said
            // and nothing points back to it ("あと、何円以上で送料無料でしたっけ" after the
            // cash-on-delivery fee: both ask what something costs, and the fee is all the payment
            // answer has to say; "交換の場合、送料は？" after the wrong-item answer points back).
            Some(i)
                if !d.context.is_small_talk(i)
                    && c.confidence >= follow_up.override_below
                    && !restates
                    && (!topic_answers_it() || (!pointer && self.topic_would_repeat(last))) =>
            {
                None
            }
            _ => Some(last.intent.clone()),
        }
    }

    /// The `last` answer's topic, answering this message (with what the earlier question asked
    /// where this one says nothing), would say word for word what it just said.
    fn topic_would_repeat(&self, last: &BotAnswer) -> bool {
        let extractor = &self.d.extractor;
        let mut vars = self.vars();
        for earlier in extractor.extract(&last.question).facets {
            let superseded = self
                .facets
                .iter()
                .any(|f| extractor.supersedes(&f.name, &earlier.name));
            if !superseded {
                vars.entry(earlier.name.clone())
                    .or_insert_with(|| Value::from(earlier.value));
            }
        }
        self.asked_again(&last.intent, &vars)
    }

    /// This message asks again what the `last` answer's question asked, with a detail ("27cmから
    /// 27.5cmに変えたいです" right after the size-exchange answer, however surely it reads as an
    /// order change): facets that question had too, which that answer has words for, not only
    /// what any topic may be asked (`follow_up.generic_questions`).
    fn restates(&self, last: &BotAnswer) -> bool {
        let earlier = self.d.extractor.extract(&last.question).facets;
        let generic = &self.d.context.follow_up().generic_questions;
        self.facets.iter().any(|f| !generic.lists(f))
            && self.facets.iter().all(|f| {
                earlier
                    .iter()
                    .any(|e| e.name == f.name && e.value == f.value)
            })
            && self.facets_change_answer(&last.intent, "", None, &self.facets)
    }

    /// The answer of `intent` turns on what this message asks (its facets): rendered with them it
    /// says something else than without ("who pays the shipping for that?" after a return answer
    /// gets the return answer's own word on shipping, not the generic shipping-fee answer) — on
    /// their own, or on top of what the `earlier` question asked ("注文後に適用できますか" after
    /// "how do I use a coupon?").
    ///
    /// `awaited`: a detail the bot is waiting for; the answer counts as depending on the facets
    /// when it would once that detail is known ("I paid by card" for a refund's order number).
    fn answer_depends_on_facets(
        &self,
        intent: &IntentName,
        earlier: &str,
        awaited: Option<&str>,
    ) -> bool {
        self.facets_change_answer(intent, earlier, awaited, &self.facets)
    }

    /// Each of the message's facets on its own changes `intent`'s answer (not merely replaces
    /// what the earlier question asked): nothing in the message points to another topic
    /// ("カード払いです" for a refund, unlike "カードが使えません", whose "doesn't work" the refund
    /// answer has no words for).
    fn every_facet_matters(&self, intent: &IntentName, awaited: Option<&str>) -> bool {
        !self.facets.is_empty()
            && self
                .facets
                .iter()
                .all(|f| self.facets_change_answer(intent, "", awaited, std::slice::from_ref(f)))
    }

    /// `intent`'s answer rendered with `facets` differs from the one without them (on top of the
    /// `earlier` question's facets too, when there is one).
    fn facets_change_answer(
        &self,
        intent: &IntentName,
        earlier: &str,
        awaited: Option<&str>,
        facets: &[Found],
    ) -> bool {
        if facets.is_empty() {
            return false;
        }
        let mut plain = template_vars(self.input.customer, self.state);
        if let Some(variable) = awaited {
            plain
                .entry(variable.to_string())
                .or_insert_with(|| Value::from(AWAITED_PLACEHOLDER));
        }
        let with = |mut vars: Vars, facets: &[Found]| {
            for facet in facets {
                vars.insert(facet.name.clone(), Value::from(facet.value.clone()));
            }
            vars
        };
        let render = |vars: &Vars| self.render_variation(intent, 0, vars);
        let differs =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        let plain_answer = render(&plain);
        if differs(&render(&with(plain.clone(), facets)), &plain_answer) {
            return true;
        }
        // On top of the earlier question's facets, a facet that only displaces an earlier one of
        // the same name and falls back to the plain answer ("写真も必要ですか" after the
        // wrong-item answer of an intent with no word on photos) changes nothing the customer
        // asked about. Without earlier facets, the comparison above said it all.
        let earlier_facets = self.d.extractor.extract(earlier).facets;
        if earlier_facets.is_empty() {
            return false;
        }
        let before = with(plain, &earlier_facets);
        let combined = render(&with(before.clone(), facets));
        differs(&combined, &render(&before)) && differs(&combined, &plain_answer)
    }

    /// The fresh classification decides.
    fn classified(mut self) -> BotTurn {
        let d = self.d;
        let c = self.input.classification;
        let Some(intent) = c.intent.clone() else {
            return self.miss(MissKind::OutOfScope);
        };
        if !d.intents.contains_key(&intent) {
            tracing::warn!(
                intent = %intent,
                "the classifier returned an intent the catalog lacks (retrain the model)"
            );
            return self.miss(MissKind::OutOfScope);
        }
        match (c.action, c.reason) {
            (_, Reason::AlwaysHandoff) => {
                self.handoff(d.config.reason_for_intent(&intent), Some(intent))
            }
            (Action::Clarify, Reason::Ambiguous) => {
                if let Some(first) = self.asked_in_sentences_instead(&intent) {
                    self.facets = self.sentence_facets(&first);
                    return self.answer(&first, c.confidence);
                }
                let alternative = c
                    .alternatives
                    .iter()
                    .find(|a| a.intent != intent && d.intents.contains_key(&a.intent));
                if let Some(pick) =
                    alternative.and_then(|alt| self.hinted_by_entities(&intent, &alt.intent))
                {
                    return self.answer(&pick, c.confidence);
                }
                // "I forgot my password. Also, how do I change my email?" hesitates between the
                // two because it asks both, one sentence each: both are answered.
                if alternative.is_some_and(|alt| {
                    self.asked_in_a_sentence(&intent) && self.asked_in_a_sentence(&alt.intent)
                }) {
                    return self.answer(&intent, c.confidence);
                }
                // Of the two, only one has its own words for what the message asks ("only the box
                // is damaged"): that one.
                if let Some(pick) =
                    alternative.and_then(|alt| self.hinted_by_facets(&intent, &alt.intent))
                {
                    return self.answer(&pick, c.confidence);
                }
                if self.answered_either_way(&intent) {
                    return self.answer(&intent, c.confidence);
                }
                // "Did you mean Goodbye or Thanks?" helps nobody: courtesy is never a choice.
                let courtesy = |i: &IntentName| d.context.is_small_talk(i);
                if let Some(pick) =
                    alternative.and_then(|alt| self.courtesy_by_position(&intent, &alt.intent))
                {
                    return self.answer(&pick, c.confidence);
                }
                match alternative.filter(|alt| !courtesy(&intent) && !courtesy(&alt.intent)) {
                    Some(alt) => {
                        let b = Candidate {
                            intent: alt.intent.clone(),
                            confidence: alt.confidence,
                        };
                        let a = Candidate {
                            intent,
                            confidence: c.confidence,
                        };
                        self.clarify(a, b)
                    }
                    None => self.miss(MissKind::LowConfidence),
                }
            }
            (Action::Answer, _) => {
                // Sure it is courtesy, but with the other kind a real second ("お疲れ様です":
                // goodbye 0.77, greeting 0.20): where the conversation is decides; "ok thanks
                // bye" (thanks 0.69, goodbye 0.28) closes politely.
                let intent = c
                    .alternatives
                    .first()
                    .filter(|alt| alt.confidence >= c.confidence * COURTESY_TIE_SHARE)
                    .and_then(|alt| {
                        let answered = !self.state.answers.is_empty();
                        courtesy_of_pair(&d.context, answered, &intent, &alt.intent)
                    })
                    .unwrap_or(intent);
                self.answer(&intent, c.confidence)
            }
            (_, Reason::OutOfScope) => self.miss(MissKind::OutOfScope),
            // Too unsure of the whole because it asks two things, each surely in a sentence of
            // its own: both are answered, as when the two are close.
            (_, Reason::LowConfidence) if self.two_asked_in_sentences(&intent) => {
                // Each question reads its own sentence: "My order MD… hasn't arrived. Also I want
                // to change my email address." is no e-mail confirmation that has not arrived.
                self.facets = self.sentence_facets(&intent);
                self.answer(&intent, c.confidence)
            }
            (_, Reason::LowConfidence) if self.said_in_a_sentence(&intent) => {
                if self.another_topic_in_a_sentence(&intent) {
                    self.facets = self.sentence_facets(&intent);
                }
                self.answer(&intent, c.confidence)
            }
            (_, Reason::LowConfidence)
                if self.asks_what_only_it_answers(&intent) || self.answered_either_way(&intent) =>
            {
                self.answer(&intent, c.confidence)
            }
            (_, Reason::LowConfidence) => match self.asked_in_sentences_instead(&intent) {
                Some(first) => {
                    self.facets = self.sentence_facets(&first);
                    self.answer(&first, c.confidence)
                }
                None => self.miss(MissKind::LowConfidence),
            },
            _ => self.miss(MissKind::LowConfidence),
        }
    }

    /// "My order MD… hasn't arrived. Also I want to change my email address.": too unsure of
    /// the whole, whose likeliest intent no sentence is (neither topic), while two sentences are
    /// each surely another topic and the message asks for something. The first of them, answered
    /// (the other gets its own answer after it).
    fn asked_in_sentences_instead(&self, intent: &IntentName) -> Option<IntentName> {
        let context = &self.d.context;
        if self.asked_in_a_sentence(intent) {
            return None;
        }
        let mut sure = self
            .input
            .sentences
            .iter()
            .filter_map(sure_intent)
            .filter(|i| !context.is_small_talk(i));
        let first = sure.next()?;
        let asks = is_question(self.input.text) || !context.only_states(self.input.text, first);
        (sure.any(|other| other != first) && asks).then(|| first.clone())
    }

    /// A sentence of the message is a topic other than `intent` (and not courtesy): surely one,
    /// or torn between two others ("My order MD… hasn't arrived.": the order status or a delivery
    /// problem, 0.47 / 0.43). What it says is its own, not `intent`'s.
    fn another_topic_in_a_sentence(&self, intent: &IntentName) -> bool {
        let context = &self.d.context;
        let other = |i: &IntentName| i != intent && !context.is_small_talk(i);
        self.input.sentences.iter().any(|s| {
            let c = &s.classification;
            let torn = c.reason == Reason::Ambiguous
                && c.intent.as_ref().is_some_and(other)
                && c.alternatives.first().is_some_and(|alt| other(&alt.intent));
            torn || sure_intent(s).is_some_and(other)
        })
    }

    /// The facets of the first sentence surely `intent`: its answer reads its own sentence, not
    /// the other topic's ("hasn't arrived" is no e-mail's confirmation missing).
    fn sentence_facets(&self, intent: &IntentName) -> Vec<Found> {
        self.input
            .sentences
            .iter()
            .find(|s| sure_intent(s) == Some(intent))
            .map(|s| self.d.extractor.extract_reply(&s.text, None).facets)
            .unwrap_or_default()
    }

    /// The message's likeliest intent and its runner-up are each surely what one of its
    /// sentences asks.
    fn two_asked_in_sentences(&self, intent: &IntentName) -> bool {
        let c = self.input.classification;
        let runner_up = c.alternatives.first().map(|a| &a.intent);
        runner_up.is_some_and(|alt| {
            alt != intent
                && !self.d.context.is_small_talk(alt)
                && !self.d.context.is_small_talk(intent)
                && self.asked_in_a_sentence(intent)
                && self.asked_in_a_sentence(alt)
        })
    }

    /// A message of several sentences, too unsure as a whole (its background dilutes it: "I
    /// ordered a dress on Monday and paid by card. The tracking number doesn't work. Can you
    /// help?"), whose likeliest intent is surely what one sentence says, and which asks for
    /// something: in words, or by what that intent's statements are (a problem reported).
    fn said_in_a_sentence(&self, intent: &IntentName) -> bool {
        let context = &self.d.context;
        self.input.sentences.len() >= 2
            && !context.is_small_talk(intent)
            && self.asked_in_a_sentence(intent)
            && (is_question(self.input.text) || !context.only_states(self.input.text, intent))
    }

    /// Of an opening and a closing courtesy the classifier cannot tell apart, the one that fits
    /// where the conversation is: "お疲れ様です" and "what's up" open and close an exchange alike,
    /// so before anything was answered they greet and after an answer they close. `None` for any
    /// other pair (two closings, "goodbye or thanks?", may be neither: "to L").
    fn courtesy_by_position(&self, top: &IntentName, second: &IntentName) -> Option<IntentName> {
        let answered = !self.state.answers.is_empty();
        courtesy_by_position(&self.d.context, answered, top, second)
    }

    /// Answers `intent`, asking first for a required detail the conversation lacks.
    fn answer(mut self, intent: &IntentName, confidence: f32) -> BotTurn {
        let d = self.d;
        let Some(info) = d.intents.get(intent) else {
            return self.miss(MissKind::OutOfScope);
        };
        let answered_instead = info.handoff == HandoffMode::Always && self.answers_instead(info);
        if info.handoff == HandoffMode::Always && !answered_instead {
            return self.handoff(d.config.reason_for_intent(intent), Some(intent.clone()));
        }
        let mut vars = self.vars();
        if self.says_the_answer_did_not_help(intent, &vars) {
            // Recorded as the topic that did not help, like any answer that did not help.
            return self.hand_over(HandoffReason::Unresolved, None, Some(intent.clone()));
        }
        if let Some(origin) = self.topic_origin(intent) {
            vars.insert(PREVIOUS_INTENT.into(), Value::from(origin.as_str()));
        }
        let missing = info.variables.iter().find(|(v, spec)| {
            spec.required && !vars.contains_key(v.as_str()) && !self.waives(v, &spec.waived)
        });
        if let Some((variable, _)) = missing {
            self.state.misses = 0;
            self.state.last_miss = None;
            let question = self.question.clone();
            let also = self.also_waiting_for(intent, variable);
            let answered_now = match also {
                Some(_) => None,
                None => self.answer_beside_the_question(intent),
            };
            // "注文番号は1234567です": asked for it, the customer learns why.
            let hint = answered_now.or_else(|| self.attempt_hint(variable));
            let slot = PendingSlot {
                intent: intent.clone(),
                variable: variable.clone(),
                confidence,
                question,
                also,
            };
            return self.ask_slot(slot, hint);
        }
        // Courtesy ("hello?", "thanks!") is answered however often it comes: no apology for the
        // same answer, no person offered.
        let repeated = self.asked_again(intent, &vars) && !d.context.is_small_talk(intent);
        if repeated && self.answered_twice_running(intent) {
            // The same answer twice, and a person offered, did not help: a third is no service.
            return self.handoff(HandoffReason::Unresolved, None);
        }
        let Some(answer) = self.render_intent(intent, &vars) else {
            return self.handoff(HandoffReason::LowConfidence, None);
        };
        self.state.misses = 0;
        self.state.last_miss = None;
        self.state.answers.push(BotAnswer {
            turn: self.state.turn,
            intent: intent.clone(),
            text: answer.clone(),
            question: self.question.clone(),
            offered_person: false,
        });
        // Asked again: the offer of a person takes the place of "anything else?".
        let (closing, quick_replies) = match repeated.then(|| self.offer_person(&vars)).flatten() {
            Some((line, person)) => {
                if let Some(answer) = self.state.answers.last_mut() {
                    answer.offered_person = true;
                }
                (Some(line), vec![person])
            }
            None if answered_instead => (None, self.person_quick_reply().into_iter().collect()),
            None => (self.follow_up_line(intent, &vars), Vec::new()),
        };
        let mut text = answer;
        let mut closing = closing;
        if let Some((other, vars)) = self.also.take() {
            if let Some(second) = self.render_intent(&other, &vars) {
                text = format!("{text}\n{second}");
            }
        // "送料はいくらですか。あと、返品の期限は？": the other question is answered too, in the
        // order they were asked.
        } else if let Some((second, first)) =
            (!repeated).then(|| self.second_answer(intent)).flatten()
        {
            text = match first {
                true => format!("{second}\n{text}"),
                false => format!("{text}\n{second}"),
            };
        // "Where is my order? Also do you accept PayPay?": PayPay answered, then the order
        // number asked for, instead of "anything else?".
        } else if let Some((slot, prompt)) = (!repeated && quick_replies.is_empty())
            .then(|| self.slot_for_other_question(intent))
            .flatten()
        {
            self.state.pending_slot = Some(slot);
            closing = Some(prompt);
        }
        if let Some(closing) = closing {
            text.push('\n');
            text.push_str(&closing);
        }
        self.reply(
            text,
            Action::Answer,
            Some(intent.clone()),
            confidence,
            quick_replies,
            TurnKind::Answer,
        )
    }

    /// The answer to another question of the same message, and whether its sentence comes
    /// before the answered one. Another intent, when a sentence is surely that intent and another
    /// surely the answered `intent` (each answer has its own sentence), it does not follow a bare
    /// request whose answer has words for what it asks ("返品したいです。送料はかかりますか" is
    /// the return's shipping), and it answers without a detail the conversation lacks; or the same intent, when a sentence
    /// asks something the answer given did not ("ポイントの有効期限は？それとクーポンは併用できますか").
    /// Rendered with that sentence's own facets.
    fn second_answer(&mut self, intent: &IntentName) -> Option<(String, bool)> {
        let sentences = self.input.sentences;
        let answered_at = sentences
            .iter()
            .position(|s| sure_intent(s) == Some(intent))?;
        let answered_bare = self
            .d
            .extractor
            .extract_reply(&sentences[answered_at].text, None)
            .facets
            .is_empty();
        let given: Vec<(&str, &str)> = self
            .facets
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        let (at, other, vars) = sentences.iter().enumerate().find_map(|(at, s)| {
            let other = sure_intent(s)?;
            // A question or a request in words: "I was charged full price." only states (a
            // payment failure would be a request in itself, but here it is background).
            // A message the classifier found torn between the two asks both anyway.
            let facets = self.d.extractor.extract_reply(&s.text, None).facets;
            // A problem reported with its order number needs no more certainty than that.
            let reports = self.reports_about_an_order(&s.text, other, &facets);
            let asks = self.asks_in_words(&s.text) || self.torn_between(intent, other) || reports;
            if self.d.context.is_small_talk(other)
                || !asks
                || !self.d.context.stands_alone(&s.text)
                || !(reports || self.d.context.sure_alone(s.classification.confidence))
            {
                return None;
            }
            if self.d.config.policy.covers(intent, other) {
                return None;
            }
            let asks_more = if other == intent {
                let own: Vec<(&str, &str)> = facets
                    .iter()
                    .map(|f| (f.name.as_str(), f.value.as_str()))
                    .collect();
                // Two questions on one topic, not background and its question ("MD… is
                // cancelled. When is my refund?" is one question).
                own != given
                    && self.every_sentence_of_it_asks(intent)
                    && sentences
                        .iter()
                        .filter(|s| sure_intent(s) == Some(intent))
                        .count()
                        >= 2
                    && self.facets_change_answer(intent, "", None, &facets)
            } else {
                // After a bare request, a question the answer has words for is about it.
                !(at > answered_at
                    && answered_bare
                    && self.facets_change_answer(intent, "", None, &facets))
            };
            // "代引きは使えますか？手数料はいくらですか？": the fee (read with the rest of the
            // message: cash on delivery's) is in the answer already.
            let said_already = other == intent && {
                let mut in_context = self.facets.clone();
                in_context.retain(|f| !facets.iter().any(|own| own.name == f.name));
                in_context.extend(facets.iter().cloned());
                let whole = self.sentence_vars(self.facets.clone());
                self.same_answer(intent, &whole, &self.sentence_vars(in_context))
            };
            let vars = (asks_more && !said_already).then(|| self.sentence_vars(facets))?;
            self.answers_with(other, &vars)
                .then(|| (at, other.clone(), vars))
        })?;
        let text = self.render_intent(&other, &vars)?;
        Some((text, at < answered_at))
    }

    /// The other question of this message: a sentence surely another intent, asked in words
    /// and standing alone (or first), about nothing else of the kind ("my other order"), which
    /// the answer to `intent` does not cover. With its sentence and that sentence's facets.
    fn other_question(&self, intent: &IntentName) -> Option<(IntentName, &Sentence, Vec<Found>)> {
        let context = &self.d.context;
        self.input.sentences.iter().enumerate().find_map(|(at, s)| {
            let other = sure_intent(s).filter(|other| *other != intent)?;
            let facets = self.d.extractor.extract(&s.text).facets;
            // "返品したいです。あと返金はいつになりますか？": the return's answer has words for
            // when the money comes, so that answer says it.
            let asked = !context.is_small_talk(other)
                && context.sure_alone(s.classification.confidence)
                && self.asks_in_words(&s.text)
                && (at == 0 || context.stands_alone(&s.text))
                && !context.about_another(&s.text)
                && !self.d.config.policy.covers(intent, other)
                && !self.facets_change_answer(intent, "", None, &facets);
            asked.then(|| (other.clone(), s, facets))
        })
    }

    /// The other question of this message when it waits for the same `variable` as `intent`:
    /// the bot asks for it once and answers both ("I want to return this. Also, when will I get
    /// my refund?" — one order number for both).
    fn also_waiting_for(&self, intent: &IntentName, variable: &str) -> Option<AlsoAsked> {
        let (other, sentence, _) = self.other_question(intent)?;
        let info = self.d.intents.get(&other)?;
        let needs_it = info
            .variables
            .get(variable)
            .is_some_and(|spec| spec.required);
        needs_it.then(|| AlsoAsked {
            intent: other,
            sentence: sentence.text.clone(),
        })
    }

    /// The answer to the other question of this message when it needs nothing the conversation
    /// lacks: given now, before the bot asks for what `intent` needs ("I'd like to cancel my
    /// order. Also, how do I reset my password?").
    fn answer_beside_the_question(&mut self, intent: &IntentName) -> Option<String> {
        let (other, _, facets) = self.other_question(intent)?;
        let vars = self.sentence_vars(facets);
        self.answers_with(&other, &vars)
            .then(|| self.render_intent(&other, &vars))
            .flatten()
    }

    /// The other question of this message when it needs a detail the conversation lacks: the
    /// question asking for it, and its prompt.
    fn slot_for_other_question(&self, intent: &IntentName) -> Option<(PendingSlot, String)> {
        let (other, sentence, facets) = self.other_question(intent)?;
        let info = self.d.intents.get(&other)?;
        if info.handoff == HandoffMode::Always {
            return None;
        }
        let vars = self.sentence_vars(facets);
        let (variable, spec) = info.variables.iter().find(|(name, spec)| {
            spec.required && !vars.contains_key(name.as_str()) && !self.waived_for(spec, &vars)
        })?;
        let prompt = self.prompt_for(spec)?;
        let slot = PendingSlot {
            intent: other,
            variable: variable.clone(),
            confidence: sentence.classification.confidence,
            question: sentence.text.clone(),
            also: None,
        };
        Some((slot, prompt))
    }

    /// The answer to the question asked beside the one a slot waited on, once the detail came:
    /// read with its own sentence's facets and what the conversation now knows.
    fn answer_also_asked(&mut self, also: Option<AlsoAsked>) {
        let Some(also) = also else {
            return;
        };
        let facets = self.d.extractor.extract(&also.sentence).facets;
        let vars = self.sentence_vars(facets);
        if self.answers_with(&also.intent, &vars) {
            self.also = Some((also.intent, vars));
        }
    }

    /// "My order MD… hasn't arrived.": a statement that names the detail `intent` takes (the
    /// order number) and what went wrong (facets its answer has words for) asks for help with it,
    /// though it has no word of asking.
    fn reports_about_an_order(
        &self,
        sentence: &str,
        intent: &IntentName,
        facets: &[Found],
    ) -> bool {
        let Some(info) = self.d.intents.get(intent) else {
            return false;
        };
        let names_the_detail = self.d.extractor.extract(sentence).found.iter().any(|f| {
            info.variables
                .get(&f.name)
                .is_some_and(|spec| spec.required)
        });
        names_the_detail && self.facets_change_answer(intent, "", None, facets)
    }

    /// `intent` says the same with `a` as with `b` (its first variation, rendered with each).
    fn same_answer(&self, intent: &IntentName, a: &Vars, b: &Vars) -> bool {
        let render = |vars: &Vars| self.render_variation(intent, 0, vars);
        matches!((render(a), render(b)), (Some(a), Some(b)) if a == b)
    }

    /// Variation `variation` of `intent` rendered with `vars` (no rotation: for comparing).
    fn render_variation(
        &self,
        intent: &IntentName,
        variation: usize,
        vars: &Vars,
    ) -> Option<String> {
        self.d
            .responder
            .intent(intent.as_str(), &self.locale, variation, vars)
            .ok()
    }

    /// "MD12345678, also how do I reset my password?" while the bot waits for the order number:
    /// the number answers the question that asked for it, and the other question (`other`, an
    /// intent that has no use for that detail and answers without asking anything) gets its own
    /// answer after it. An intent that takes the detail too ("MD…, actually I want to cancel it")
    /// is a new request with it instead. Sets `also` and the question the answer is for.
    fn answers_besides_the_slot(&mut self, slot: &PendingSlot, other: &IntentName) -> bool {
        let Some(info) = self.d.intents.get(other) else {
            return false;
        };
        let own_vars = self.vars();
        if info.variables.contains_key(&slot.variable)
            || self.d.context.is_small_talk(other)
            || !self.answers_with(other, &own_vars)
        {
            return false;
        }
        self.also = Some((other.clone(), own_vars));
        // The waiting question's answer reads that question, not this message's other one.
        self.facets.clear();
        self.continue_question(&slot.question);
        true
    }

    /// The classifier could not tell `a` from `b` for the whole message (its two likeliest,
    /// close together or both unsure).
    fn torn_between(&self, a: &IntentName, b: &IntentName) -> bool {
        let c = self.input.classification;
        let second = c.alternatives.first().map(|alt| &alt.intent);
        matches!(c.reason, Reason::Ambiguous | Reason::LowConfidence)
            && ((c.intent.as_ref() == Some(a) && second == Some(b))
                || (c.intent.as_ref() == Some(b) && second == Some(a)))
    }

    /// Every sentence of the message classified as `intent` asks or requests something.
    fn every_sentence_of_it_asks(&self, intent: &IntentName) -> bool {
        self.input
            .sentences
            .iter()
            .filter(|s| s.classification.intent.as_ref() == Some(intent))
            .all(|s| self.asks_in_words(&s.text))
    }

    /// `text` is a question, or requests something in words.
    fn asks_in_words(&self, text: &str) -> bool {
        is_question(text) || self.d.context.requests(text)
    }

    /// A sentence of the message, classified on its own, is surely `intent`.
    fn asked_in_a_sentence(&self, intent: &IntentName) -> bool {
        self.input
            .sentences
            .iter()
            .any(|s| sure_intent(s) == Some(intent))
    }

    /// What a template of one sentence of the message gets: the conversation's variables and the
    /// sentence's own `facets`.
    fn sentence_vars(&self, facets: Vec<Found>) -> Vars {
        let mut vars = template_vars(self.input.customer, self.state);
        for facet in facets {
            vars.insert(facet.name, Value::from(facet.value));
        }
        vars
    }

    /// `intent` answers (never hands off) and has every detail it requires in `vars`, or is
    /// excused from it by a facet in `vars`.
    fn answers_with(&self, intent: &IntentName, vars: &Vars) -> bool {
        let Some(info) = self.d.intents.get(intent) else {
            return false;
        };
        info.handoff != HandoffMode::Always
            && info.variables.iter().all(|(name, spec)| {
                !spec.required || vars.contains_key(name.as_str()) || self.waived_for(spec, vars)
            })
    }

    /// What `vars` say (their facets) waives the variable of `spec`.
    fn waived_for(&self, spec: &VariableSpec, vars: &Vars) -> bool {
        spec.waived.facets.keys().any(|name| {
            vars.get(name)
                .and_then(Value::as_str)
                .is_some_and(|value| spec.waived.by_facet(name, value))
        })
    }

    /// The customer asks again what the bot answered the turn before: `intent` with `vars` says
    /// word for word what its last answer said (rendered with the same variation). That answer
    /// did not help.
    fn asked_again(&self, intent: &IntentName, vars: &Vars) -> bool {
        let Some(last) = self.answered_last_turn().filter(|a| a.intent == *intent) else {
            return false;
        };
        let Some(variation) = self.state.rotation.get(intent).and_then(|r| r.last) else {
            return false;
        };
        self.render_variation(intent, variation, vars)
            .is_some_and(|again| again == last.text)
    }

    /// The bot's last two answers, on the two turns before this one, were both `intent`, and the
    /// last came with the offer of a person (an answer that only added a detail, such as the
    /// order number asked for, is no second try).
    fn answered_twice_running(&self, intent: &IntentName) -> bool {
        let [.., before, last] = self.state.answers.as_slice() else {
            return false;
        };
        before.intent == *intent
            && last.intent == *intent
            && before.turn + 1 == last.turn
            && last.offered_person
    }

    /// "If that doesn't solve it, a person is one click away": the line and the quick reply for
    /// the intent that asks for a person (the first of `policy.explicit_request_intents`), which
    /// the next message may pick.
    fn offer_person(&mut self, vars: &Vars) -> Option<(String, QuickReply)> {
        let line = self.line(Line::OfferPerson, vars)?;
        Some((line, self.person_quick_reply()?))
    }

    /// A quick reply to the intent that asks for a person, which the next message may also pick.
    fn person_quick_reply(&mut self) -> Option<QuickReply> {
        let d = self.d;
        let person = d
            .config
            .policy
            .explicit_request_intents
            .iter()
            .find(|i| d.intents.contains_key(*i))?
            .clone();
        self.state.pending_clarification = Some(PendingClarification {
            candidates: vec![Candidate {
                intent: person.clone(),
                confidence: 0.0,
            }],
            text: self.question.clone(),
        });
        let label = d.config.label(person.as_str(), &self.locale).to_string();
        Some(QuickReply {
            label,
            value: person,
        })
    }

    /// This message's facets or entities make the pending slot's variable unnecessary.
    fn waives_slot(&self, slot: &PendingSlot) -> bool {
        self.slot_spec(slot)
            .is_some_and(|spec| self.waived_by_message(&spec.waived))
    }

    /// Whether this turn does without required `variable`: the customer said they have none (now
    /// or earlier), or the question is one the answer needs no such detail for.
    fn waives(&self, variable: &str, waiver: &Waiver) -> bool {
        (waiver.declined && self.state.declined_details.contains(variable))
            || self.waived_by_message(waiver)
    }

    /// A facet or entity of this message is one the `waiver` lists.
    fn waived_by_message(&self, waiver: &Waiver) -> bool {
        self.facets
            .iter()
            .chain(&self.extraction.found)
            .any(|f| waiver.by_facet(&f.name, &f.value))
    }

    /// Asks for `slot.variable` with the intent's prompt in the customer's language, after `hint`
    /// (what a valid value looks like) when the last try held none.
    fn ask_slot(self, slot: PendingSlot, hint: Option<String>) -> BotTurn {
        let prompt = self
            .slot_spec(&slot)
            .and_then(|spec| self.prompt_for(spec))
            .map(|p| match hint {
                Some(hint) => format!("{}\n{p}", hint.trim()),
                None => p,
            });
        let Some(prompt) = prompt else {
            tracing::error!(
                intent = %slot.intent,
                variable = slot.variable,
                "no prompt to ask for a required variable"
            );
            return self.handoff(HandoffReason::LowConfidence, None);
        };
        let (intent, confidence) = (slot.intent.clone(), slot.confidence);
        self.state.pending_slot = Some(slot);
        self.reply(
            prompt,
            Action::Clarify,
            Some(intent),
            confidence,
            Vec::new(),
            TurnKind::AskSlot,
        )
    }

    /// The question that asks for the variable of `spec`, in the conversation's language (any
    /// other when it has none in it).
    fn prompt_for(&self, spec: &VariableSpec) -> Option<String> {
        spec.prompt
            .get(self.locale.as_str())
            .or_else(|| spec.prompt.values().next())
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }

    /// "Did you mean A or B?" with a quick reply for each.
    fn clarify(self, a: Candidate, b: Candidate) -> BotTurn {
        let d = self.d;
        let la = d.config.label(a.intent.as_str(), &self.locale).to_string();
        let lb = d.config.label(b.intent.as_str(), &self.locale).to_string();
        let mut vars = self.vars();
        vars.insert("a".into(), Value::from(la.clone()));
        vars.insert("b".into(), Value::from(lb.clone()));
        let Some(text) = self.line(Line::Clarify, &vars) else {
            return self.handoff(HandoffReason::LowConfidence, None);
        };
        let quick_replies = vec![
            QuickReply {
                label: la,
                value: a.intent.clone(),
            },
            QuickReply {
                label: lb,
                value: b.intent.clone(),
            },
        ];
        let (intent, confidence) = (a.intent.clone(), a.confidence);
        self.state.pending_clarification = Some(PendingClarification {
            candidates: vec![a, b],
            text: self.question.clone(),
        });
        self.reply(
            text,
            Action::Clarify,
            Some(intent),
            confidence,
            quick_replies,
            TurnKind::Clarify,
        )
    }

    /// What is left of an earlier choice once the customer's reply gave a detail, not a choice:
    /// the one intent left answers, else the question stands.
    fn ask_again(self, candidates: Vec<Candidate>) -> BotTurn {
        match <[Candidate; 2]>::try_from(candidates) {
            Ok([a, b]) => self.clarify(a, b),
            Err(mut candidates) if candidates.len() == 1 => {
                let only = candidates.remove(0);
                self.answer(&only.intent, only.confidence)
            }
            Err(candidates) => self.choose(candidates.into_iter().map(|c| c.intent).collect()),
        }
    }

    /// A vague request: "which of these is it about?" with a quick reply per intent.
    fn choose(self, intents: Vec<IntentName>) -> BotTurn {
        let question = self.question.clone();
        self.offer(Offer {
            line: Line::Choose,
            var: "options",
            intent: intents.first().cloned(),
            intents,
            question,
            kind: TurnKind::Clarify,
            fallback: HandoffReason::LowConfidence,
        })
    }

    /// `offer.line`, naming `offer.intents` as `offer.var`, with a quick reply for each; the next
    /// message may pick one, which then answers `offer.question`. Without the line, a handoff.
    fn offer(mut self, offer: Offer) -> BotTurn {
        let quick_replies = self.quick_replies(&offer.intents);
        let mut vars = self.vars();
        vars.insert(offer.var.into(), labels(&quick_replies));
        let Some(mut text) = self.line(offer.line, &vars) else {
            return self.handoff(offer.fallback, None);
        };
        // "MD-20261128-0007" offered choices learns first what an order number looks like.
        let tried = self.extraction.attempts.first().map(|a| a.name.clone());
        if let Some(hint) = tried.and_then(|variable| self.attempt_hint(&variable)) {
            text = format!("{}\n{text}", hint.trim());
        }
        if !offer.intents.is_empty() {
            self.await_choice(&offer.intents, offer.question);
        }
        let confidence = self.input.classification.confidence;
        self.reply(
            text,
            Action::Clarify,
            offer.intent,
            confidence,
            quick_replies,
            offer.kind,
        )
    }

    /// One quick reply per intent, labelled in the conversation's language.
    fn quick_replies(&self, intents: &[IntentName]) -> Vec<QuickReply> {
        intents
            .iter()
            .map(|i| QuickReply {
                label: self.d.config.label(i.as_str(), &self.locale).to_string(),
                value: i.clone(),
            })
            .collect()
    }

    /// The next message may pick one of `intents` (a click or a label); `text` is the question
    /// the choice then answers.
    fn await_choice(&mut self, intents: &[IntentName], text: String) {
        self.state.pending_clarification = Some(PendingClarification {
            candidates: intents
                .iter()
                .map(|i| Candidate {
                    intent: i.clone(),
                    confidence: 0.0,
                })
                .collect(),
            text,
        });
    }

    /// Of two close intents, the one that uses a detail this message gives (an order number
    /// points to an order question, not to "close my account").
    fn hinted_by_entities(&self, a: &IntentName, b: &IntentName) -> Option<IntentName> {
        match (self.uses_given_entity(a), self.uses_given_entity(b)) {
            (true, false) => Some(a.clone()),
            (false, true) => Some(b.clone()),
            _ => None,
        }
    }

    /// Of two close intents, the one whose answer has its own words for what this message asks
    /// (a facet few intents answer: "the tracking number finds nothing", "only the box is
    /// damaged"), when the other has none.
    fn hinted_by_facets(&self, a: &IntentName, b: &IntentName) -> Option<IntentName> {
        let specific = self.specific_facets();
        let answers = |i: &IntentName| {
            specific
                .iter()
                .any(|f| self.facets_change_answer(i, "", None, std::slice::from_ref(*f)))
        };
        match (answers(a), answers(b)) {
            (true, false) => Some(a.clone()),
            (false, true) => Some(b.clone()),
            _ => None,
        }
    }

    /// Too unsure to answer `intent`, the likeliest, from the words alone, but the message asks
    /// what few intents have their own answer for, `intent` among them and its runner-up not.
    fn asks_what_only_it_answers(&self, intent: &IntentName) -> bool {
        let runner_up = self.input.classification.alternatives.first();
        self.worth_answering_unsure(intent)
            && runner_up.is_some_and(|alt| {
                self.hinted_by_facets(intent, &alt.intent).as_ref() == Some(intent)
            })
    }

    /// `intent`, the likeliest of a message too unsure to answer from the words alone, may still
    /// be answered from what the message asks: it is a guess worth offering, not courtesy, and no
    /// sentence surely asks something else ("I forgot my password. Also, how do I change my email
    /// address?": that sentence would go unanswered).
    fn worth_answering_unsure(&self, intent: &IntentName) -> bool {
        let context = &self.d.context;
        let another_asked = self
            .input
            .sentences
            .iter()
            .any(|s| sure_intent(s).is_some_and(|i| i != intent && !context.is_small_talk(i)));
        self.input.classification.confidence >= self.d.config.policy.rephrase_guess_min_confidence
            && !context.is_small_talk(intent)
            && !another_asked
    }

    /// Too unsure of `intent`, the likeliest, alone; but the message asks a question of its own
    /// whichever intent answers it (`policy.shared_questions`), which it has its own words for
    /// ("Who pays the shipping when I return something?": the return's and the shipping fees'
    /// answers both say; the refund's, a runner-up too, has nothing to say of it), and it and its
    /// runner-up together hold the probability `intent` needed alone. The likeliest's answer to
    /// it is the answer either way.
    fn answered_either_way(&self, intent: &IntentName) -> bool {
        let c = self.input.classification;
        let policy = &self.d.config.policy;
        let Some(runner_up) = c.alternatives.first().filter(|a| &a.intent != intent) else {
            return false;
        };
        let both_answer = || {
            self.facets
                .iter()
                .filter(|f| policy.shared_questions.lists(f))
                .any(|f| self.facets_change_answer(intent, "", None, std::slice::from_ref(f)))
        };
        c.confidence + runner_up.confidence >= c.threshold
            && !self.d.context.is_small_talk(&runner_up.intent)
            && self.worth_answering_unsure(intent)
            && both_answer()
    }

    /// This message's facets that at most [`SPECIFIC_FACET_INTENTS`] intents have their own
    /// words for ("how much?" changes many answers, "the tracking number finds nothing" two).
    fn specific_facets(&self) -> Vec<&Found> {
        self.facets
            .iter()
            .filter(|f| {
                let answering = self
                    .d
                    .intents
                    .keys()
                    .filter(|i| self.facets_change_answer(i, "", None, std::slice::from_ref(*f)))
                    .count();
                (1..=SPECIFIC_FACET_INTENTS).contains(&answering)
            })
            .collect()
    }

    /// Whether `intent` declares a variable for a detail this message gives.
    fn uses_given_entity(&self, intent: &IntentName) -> bool {
        self.given_variables(intent).next().is_some()
    }

    /// The variables of `intent` that an entity of this message fills.
    fn given_variables<'s>(
        &'s self,
        intent: &IntentName,
    ) -> impl Iterator<Item = &'s VariableSpec> + 's {
        let variables = self.d.intents.get(intent).map(|info| &info.variables);
        self.extraction
            .found
            .iter()
            .filter_map(move |f| variables?.get(f.name.as_str()))
    }

    /// Counts a miss; true when that makes too many in a row.
    fn count_miss(&mut self, kind: MissKind) -> bool {
        self.state.misses += 1;
        self.state.last_miss = Some(kind);
        self.state.misses >= self.d.config.policy.max_misses
    }

    /// "Could you put it another way?", offering the classifier's best guesses as quick replies
    /// (a click answers at once) when it had any worth offering.
    fn rephrase(self, kind: MissKind) -> BotTurn {
        let guesses = if kind == MissKind::LowConfidence {
            self.guesses()
        } else {
            Vec::new()
        };
        let offer = Offer {
            line: Line::Rephrase,
            var: "options",
            intents: guesses,
            question: clip(self.input.text, MAX_KEPT_CHARS),
            intent: self.input.classification.intent.clone(),
            kind: TurnKind::Rephrase,
            fallback: HandoffReason::LowConfidence,
        };
        self.offer(offer)
    }

    /// The intents the classifier leaned to, best first: at least
    /// `policy.rephrase_guess_min_confidence` sure, courtesy left out.
    fn guesses(&self) -> Vec<IntentName> {
        let d = self.d;
        let c = self.input.classification;
        let policy = &d.config.policy;
        let top = c.intent.iter().map(|i| (i, c.confidence));
        let rest = c.alternatives.iter().map(|a| (&a.intent, a.confidence));
        let mut guesses: Vec<IntentName> = Vec::new();
        for (intent, confidence) in top.chain(rest) {
            let offered = confidence >= policy.rephrase_guess_min_confidence
                && d.intents.contains_key(intent)
                && !d.context.is_small_talk(intent)
                && !guesses.contains(intent);
            if offered {
                guesses.push(intent.clone());
            }
        }
        guesses.truncate(policy.rephrase_max_guesses);
        guesses
    }

    /// Low confidence or out of scope: ask to rephrase / say what the bot does, or hand off.
    fn miss(mut self, kind: MissKind) -> BotTurn {
        if self.count_miss(kind) {
            let reason = match kind {
                MissKind::OutOfScope => HandoffReason::OutOfScope,
                MissKind::LowConfidence | MissKind::SlotNotGiven => HandoffReason::LowConfidence,
            };
            return self.handoff(reason, None);
        }
        if kind != MissKind::OutOfScope {
            return self.rephrase(kind);
        }
        let offer = Offer {
            line: Line::OutOfScope,
            var: "topics",
            intents: self.d.config.policy.out_of_scope_suggestions.clone(),
            question: clip(self.input.text, MAX_KEPT_CHARS),
            intent: None,
            kind: TurnKind::OutOfScope,
            fallback: HandoffReason::OutOfScope,
        };
        self.offer(offer)
    }

    /// Hands the conversation to a person: the intent's own answer for always-handoff intents, else
    /// the line for `reason`; outside business hours, when a person will answer.
    fn handoff(self, reason: HandoffReason, intent: Option<IntentName>) -> BotTurn {
        self.hand_over(reason, intent.clone(), intent)
    }

    /// Hands off with `intent`'s own reply (or the reason's line when `None`), recording the turn
    /// as `shown` (the classification's intent when `None`).
    fn hand_over(
        mut self,
        reason: HandoffReason,
        intent: Option<IntentName>,
        shown: Option<IntentName>,
    ) -> BotTurn {
        let d = self.d;
        let c = self.input.classification;
        let now = self.input.now;
        self.state.handed_off = true;
        self.state.pending_clarification = None;
        self.state.pending_slot = None;
        let mut vars = self.vars();
        let line = match reason {
            HandoffReason::LowConfidence => Line::HandoffLowConfidence,
            HandoffReason::OutOfScope => Line::HandoffOutOfScope,
            HandoffReason::DetailMissing => Line::HandoffDetailMissing,
            HandoffReason::Frustration => Line::HandoffFrustration,
            HandoffReason::Unresolved => Line::HandoffUnresolved,
            HandoffReason::Referred => Line::HandoffReferred,
            HandoffReason::ExplicitRequest
            | HandoffReason::Complaint
            | HandoffReason::AlwaysHandoffIntent => Line::HandoffExplicitRequest,
        };
        let mut text = intent
            .as_ref()
            .and_then(|i| self.render_intent(i, &vars))
            .or_else(|| self.line(line, &vars))
            .unwrap_or_default();
        let (open, next_open) = match d.business_hours() {
            Some(h) => (h.is_open(now), h.next_open(now)),
            None => (true, None),
        };
        let next_open = next_open.filter(|_| !open);
        if let Some(when) = next_open.and_then(|next| self.format_next_open(next)) {
            vars.insert("next_open".into(), Value::from(when));
            if let Some(line) = self.line(Line::OutsideHours, &vars) {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
            }
        }
        let shown = shown.or_else(|| c.intent.clone());
        self.record(
            shown.clone(),
            c.confidence,
            Action::Handoff,
            TurnKind::Handoff,
        );
        let summary = d.summary_for(
            self.state,
            self.input.customer,
            &self.locale,
            reason,
            intent.as_ref(),
            now,
            next_open,
            &vars,
        );
        BotTurn {
            reply: (!text.is_empty()).then_some(text),
            action: Action::Handoff,
            intent: shown,
            confidence: c.confidence,
            quick_replies: Vec::new(),
            handoff: Some(HandoffRequest { reason, summary }),
            kind: TurnKind::Handoff,
        }
    }

    /// A reply that keeps the conversation with the bot.
    fn reply(
        self,
        text: String,
        action: Action,
        intent: Option<IntentName>,
        confidence: f32,
        quick_replies: Vec<QuickReply>,
        kind: TurnKind,
    ) -> BotTurn {
        self.state.timeline.push(TimelineEntry {
            turn: self.state.turn,
            intent: intent.clone(),
            confidence,
            action,
            kind,
        });
        BotTurn {
            reply: Some(text),
            action,
            intent,
            confidence,
            quick_replies,
            handoff: None,
            kind,
        }
    }

    fn record(
        &mut self,
        intent: Option<IntentName>,
        confidence: f32,
        action: Action,
        kind: TurnKind,
    ) {
        self.state.timeline.push(TimelineEntry {
            turn: self.state.turn,
            intent,
            confidence,
            action,
            kind,
        });
    }

    /// The intent the message picks among those offered, if exactly one: its quick-reply value, its
    /// number ("1", "2"), or its label (in any locale) equal to, contained in, or containing the text.
    fn choice(&self, p: &PendingClarification) -> Option<IntentName> {
        let d = self.d;
        let folded = fold(self.input.text);
        let text = folded.trim_matches(|c: char| {
            c.is_whitespace() || c.is_ascii_punctuation() || "。、！？「」『』".contains(c)
        });
        if text.is_empty() {
            return None;
        }
        if let [only] = p.candidates.as_slice() {
            // "Yes please" to the offer of a person takes it.
            if d.context.is_consent(self.input.text) {
                return Some(only.intent.clone());
            }
        }
        if let Ok(n) = text.parse::<usize>() {
            return (1..=p.candidates.len())
                .contains(&n)
                .then(|| p.candidates[n - 1].intent.clone());
        }
        let picked: Vec<&Candidate> = p
            .candidates
            .iter()
            .filter(|cand| {
                cand.intent.as_str() == text
                    || d.locales.iter().any(|l| {
                        let label = fold(d.config.label(cand.intent.as_str(), l));
                        !label.is_empty()
                            && (text.contains(&label)
                                || (text.chars().count() >= 2 && label.contains(text)))
                    })
            })
            .collect();
        match picked.as_slice() {
            [one] => Some(one.intent.clone()),
            _ => None,
        }
    }

    /// This message answers the earlier `question`: its facets count too (this message's win).
    fn continue_question(&mut self, question: &str) {
        if question.is_empty() {
            return;
        }
        self.inherit_facets(question);
        self.question = question.to_string();
    }

    /// This message continues an `earlier` question: its facets still hold where this one says
    /// nothing, and the question kept is both together.
    fn follow_on(&mut self, earlier: &str) {
        self.inherit_facets(earlier);
        self.question = clip(&format!("{earlier}\n{}", self.input.text), MAX_KEPT_CHARS);
    }

    /// This message continues the question the bot's last answer answered.
    fn follow_on_last_answer(&mut self) {
        if let Some(last) = self.state.answers.last() {
            let earlier = last.question.clone();
            self.follow_on(&earlier);
        }
    }

    /// The facets of an earlier `question` that this message does not set.
    fn inherit_facets(&mut self, question: &str) {
        let extractor = &self.d.extractor;
        for earlier in extractor.extract(question).facets {
            if !self
                .facets
                .iter()
                .any(|f| extractor.supersedes(&f.name, &earlier.name))
            {
                self.facets.push(earlier);
            }
        }
    }

    fn vars(&self) -> Vars {
        let mut vars = template_vars(self.input.customer, self.state);
        for facet in &self.facets {
            vars.insert(facet.name.clone(), Value::from(facet.value.clone()));
        }
        // What the bot just answered, for answers that depend on it (a refund asked about right
        // after the cancellation answer is a cancelled order's refund, not a return's).
        if let Some(last) = self.recent_answer() {
            vars.insert(PREVIOUS_INTENT.into(), Value::from(last.intent.as_str()));
        }
        vars
    }

    /// A variation of `intent` that is not the one used last time (rotating through all of them
    /// before repeating any).
    fn render_intent(&mut self, intent: &IntentName, vars: &Vars) -> Option<String> {
        let d = self.d;
        let n = d.responder.variations(intent.as_str(), &self.locale);
        let rotation = self.state.rotation.entry(intent.clone()).or_default();
        rotation.used.retain(|&i| i < n);
        let last = rotation.last.filter(|&l| l < n);
        let mut order: Vec<usize> = (0..n)
            .filter(|i| !rotation.used.contains(i) && Some(*i) != last)
            .collect();
        if order.is_empty() {
            rotation.used.clear();
            order = (0..n).filter(|i| Some(*i) != last).collect();
        }
        order.shuffle(&mut rand::rng());
        // The last one again only when nothing else renders (or it is the only one).
        order.extend(last);
        for i in order {
            match d.responder.intent(intent.as_str(), &self.locale, i, vars) {
                Ok(text) => {
                    rotation.used.push(i);
                    rotation.last = Some(i);
                    return Some(text);
                }
                Err(e) => {
                    tracing::error!(intent = %intent, variation = i, error = %e, "template failed to render");
                }
            }
        }
        None
    }

    /// The intent's question after its answer ("Is there anything else …?"), if it has one.
    fn follow_up_line(&self, intent: &IntentName, vars: &Vars) -> Option<String> {
        match self
            .d
            .responder
            .follow_up(intent.as_str(), &self.locale, vars)
        {
            Some(Ok(f)) if !f.is_empty() => Some(f),
            Some(Err(e)) => {
                tracing::error!(intent = %intent, error = %e, "follow-up failed to render");
                None
            }
            _ => None,
        }
    }

    fn line(&self, line: Line, vars: &Vars) -> Option<String> {
        match self.d.responder.line(&self.locale, line, vars) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::error!(line = line.key(), locale = %self.locale, error = %e, "line failed to render");
                None
            }
        }
    }

    /// The next opening time, worded by `next_open` of the customer's locale.
    fn format_next_open(&self, next: DateTime<FixedOffset>) -> Option<String> {
        let text = self.d.config.text(&self.locale)?;
        let today = self.input.now.with_timezone(next.offset()).date_naive();
        let weekday = text
            .weekdays
            .get(next.weekday().num_days_from_monday() as usize)?;
        let vars: Vars = [
            ("month", Value::from(next.month())),
            ("day", Value::from(next.day())),
            ("weekday", Value::from(weekday.clone())),
            (
                "time",
                Value::from(format!("{}:{:02}", next.hour(), next.minute())),
            ),
            ("hour", Value::from(format!("{:02}", next.hour()))),
            ("minute", Value::from(format!("{:02}", next.minute()))),
            ("date", Value::from(next.format("%Y-%m-%d").to_string())),
            (
                "days_from_now",
                Value::from((next.date_naive() - today).num_days()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.line(Line::NextOpen, &vars)
    }
}

/// The intent a sentence of the message is surely about, classified on its own.
fn sure_intent(s: &Sentence) -> Option<&IntentName> {
    let c = &s.classification;
    (c.action == Action::Answer && c.reason == Reason::Confident)
        .then_some(c.intent.as_ref())
        .flatten()
}

/// What `Ctx::tried_a_value` looks for: four digits in a row, or MD and a digit.
fn tried_a_number(text: &str) -> bool {
    const SEPARATORS: &[char] = &['-', ' ', 'ー', '−', '‐', '―', '–', '—', '　'];
    let compact: Vec<char> = text
        .chars()
        .filter(|c| !SEPARATORS.contains(c))
        .flat_map(char::to_uppercase)
        .collect();
    let mut run = 0;
    for (i, c) in compact.iter().enumerate() {
        run = if c.is_numeric() { run + 1 } else { 0 };
        let after_md = i >= 2 && matches!(compact[i - 2..i], ['M' | 'Ｍ', 'D' | 'Ｄ']);
        if run >= 4 || (run == 1 && after_md) {
            return true;
        }
    }
    false
}

/// Asked as a question: it ends in a question mark or, in Japanese, in the particle か.
fn is_question(text: &str) -> bool {
    let end = text.trim_end_matches(|c: char| c.is_whitespace() || "。.!！".contains(c));
    end.ends_with(['?', '？', 'か'])
}

/// A line offering intents to pick from (see `Ctx::offer`).
struct Offer {
    line: Line,
    /// The line's variable that names them.
    var: &'static str,
    intents: Vec<IntentName>,
    /// What a pick then answers.
    question: String,
    /// The intent the turn reports.
    intent: Option<IntentName>,
    kind: TurnKind,
    /// The handoff when the line is missing.
    fallback: HandoffReason,
}

/// The labels of `quick_replies`, for a line that names them.
fn labels(quick_replies: &[QuickReply]) -> Value {
    let labels: Vec<Value> = quick_replies
        .iter()
        .map(|q| Value::from(q.label.clone()))
        .collect();
    Value::from(labels)
}

/// Of an opening and a closing courtesy, the one that fits where the conversation is: before
/// anything was `answered` the opening, after an answer the closing. `None` for any other pair.
fn courtesy_by_position(
    context: &Context,
    answered: bool,
    top: &IntentName,
    second: &IntentName,
) -> Option<IntentName> {
    let opening = |i: &IntentName| context.is_small_talk(i) && !context.is_closing(i);
    let (opening_one, closing_one) = match (opening(top), opening(second)) {
        (true, false) if context.is_closing(second) => (top, second),
        (false, true) if context.is_closing(top) => (second, top),
        _ => return None,
    };
    Some(if answered { closing_one } else { opening_one }.clone())
}

/// The courtesy a message the classifier splits between two courtesy intents is: of an opening
/// and a closing, the one that fits where the conversation is ([`courtesy_by_position`]); of two
/// closings, one of which is the polite close, that one (it answers a thanks too, where "anything
/// else?" would not fit a "bye"). `None` for any other pair.
fn courtesy_of_pair(
    context: &Context,
    answered: bool,
    top: &IntentName,
    second: &IntentName,
) -> Option<IntentName> {
    courtesy_by_position(context, answered, top, second).or_else(|| {
        let both_closing = context.is_closing(top) && context.is_closing(second);
        context
            .polite_close()
            .filter(|close| both_closing && (*close == top || *close == second))
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::tried_a_number;

    #[test]
    fn a_try_at_a_number_is_four_digits_or_md_and_a_digit() {
        for tried in [
            "MD-2026-1201-0042",
            "md 123",
            "ＭＤ１２",
            "1234-567",
            "１２３４",
            "it's 12 34 56",
        ] {
            assert!(tried_a_number(tried), "{tried}");
        }
        for not_tried in [
            "I ordered a 24 but I need a 25",
            "Mサイズ",
            "3日前に注文",
            "MD",
        ] {
            assert!(!tried_a_number(not_tried), "{not_tried}");
        }
    }
}
