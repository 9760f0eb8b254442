//! Reading a message in the context of the conversation (`context:` in `_dialogue.yaml`):
//!
//! - **follow-ups**: a short message that points back ("how long?", "それもキャンセルできますか",
//!   "what if I already opened it?") continues the topic the bot just answered;
//! - **vague requests**: a message made only of filler words and one topic word ("I have a question
//!   about an order", "支払いについて聞きたいです") gets that topic's intents to choose from;
//! - **small talk** ("thanks", "hello") never counts as a change of topic while the bot waits for a
//!   detail it asked for;
//! - **declined details**: a reply to "your order number?" that says the customer has none ("I
//!   haven't ordered yet", "わかりません");
//! - **withdrawn requests**: a reply to it that drops the request ("never mind", "やっぱりやめて
//!   おきます");
//! - **where to find it**: a reply to it that asks where the detail is written ("where can I find
//!   it?", "どこで確認できますか");
//! - **acknowledgements**: a reply made only of "ok", "わかりました" and the like, which neither
//!   gives the detail nor closes the conversation;
//! - **background**: a statement made instead of the detail ("it hasn't shipped yet" while the bot
//!   waits for the number of the order to cancel), which adds to the request rather than making
//!   a new one;
//! - **didn't help**: a reply to an answer saying it did not work ("it still doesn't work",
//!   "だめでした", "my email address is correct"), which is about that answer whatever the
//!   classifier reads into it.
//!
//! Pure word lists and counts over the folded message (NFKC, lower case); the policy decides with
//! them.
use std::collections::BTreeMap;

use serde::Deserialize;

use super::entities::{FacetValues, Found};
use super::words::{fold, remove_terms, Lexicon};
use crate::domain::{IntentName, Locale};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    pub follow_up: FollowUpConfig,
    /// Intents that are courtesy, not a topic (greeting, thanks, goodbye).
    pub small_talk_intents: Vec<IntentName>,
    /// Courtesy that ends an exchange (thanks, goodbye): said instead of a detail the bot asked
    /// for, it is answered rather than met with the question again.
    pub closing_intents: Vec<IntentName>,
    pub vague: VagueConfig,
    /// Replies to "your order number?" that say the customer does not have it ("I haven't
    /// ordered yet", "わかりません"), per locale.
    pub declined: BTreeMap<Locale, Vec<String>>,
    pub withdrawn: WithdrawnConfig,
    /// Replies to "your order number?" that ask where to find it ("where can I find it?",
    /// "どこに書いてありますか"), per locale.
    pub where_to_find: BTreeMap<Locale, Vec<String>>,
    /// Greetings a request may open with ("hello, my order is late", "お世話になっております。…"),
    /// per locale: the classifier reads the request after them, not the greeting.
    pub openers: BTreeMap<Locale, Vec<String>>,
    /// Words that only acknowledge ("ok", "sure", "わかりました"), per locale: a reply made of
    /// them alone to a question for a detail is no thanks and no goodbye, however the classifier
    /// reads it ("ok" after "your order number?" is not "thank you for your help").
    pub acknowledgements: BTreeMap<Locale, Vec<String>>,
    /// What a message made only of `acknowledgements` gets before the bot has said anything
    /// (a greeting): "ok" as the first message thanks no one for help not given yet.
    pub opening_reply: Option<IntentName>,
    /// Words that accept an offer ("yes please", "お願いします"), per locale: a reply made of them
    /// alone to an offer of one choice (a person) takes it.
    pub consents: BTreeMap<Locale, Vec<String>>,
    pub background: BackgroundConfig,
    pub unhelped: UnhelpedConfig,
    pub own_sentence: OwnSentenceConfig,
    pub language_requests: LanguageRequestsConfig,
}

/// A short message asking for another language ("can you answer in English?", "日本語でお願い
/// します"): the conversation switches to it, whatever script the message is in, and the bot
/// says its last words again there.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageRequestsConfig {
    /// At most this many English words …
    pub max_words: usize,
    /// … and this many characters of other scripts: a longer message asks something else too.
    pub max_chars: usize,
    /// Phrases asking for a language, keyed by the language they ask for.
    pub phrases: BTreeMap<Locale, Vec<String>>,
    /// What the bot says when it has said nothing yet to say again (a greeting).
    pub reply_intent: Option<IntentName>,
}

/// A sentence of a message of several gets an answer of its own only when it stands alone: long
/// enough, and pointing back at nothing ("変更できますか", "Can I cancel it?" lean on the sentence
/// before them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnSentenceConfig {
    pub min_words: usize,
    pub min_chars: usize,
    /// How sure the classifier must be of the sentence alone: a question that leans on the one
    /// before it without a pointer word ("まだ間に合いますか？" after "住所を間違えました") reads
    /// as some topic, but less surely than one that names its own.
    pub min_confidence: f32,
    /// Words that point back (whole words in English), per locale.
    pub pointers: BTreeMap<Locale, Vec<String>>,
    /// Words that join a sentence to the one before without pointing back ("それと"), per
    /// locale: ignored before the pointers are looked for.
    pub conjunctions: BTreeMap<Locale, Vec<String>>,
    /// Words that make a sentence about another thing of the same kind ("And where is my other
    /// order?"): it does not share the detail the sentence beside it waits for.
    pub another: BTreeMap<Locale, Vec<String>>,
}

/// A reply to an answer that says it did not help ("it still doesn't work", "やってみましたが
/// だめでした", "my email address is correct" after the password answer): made only of `said`
/// phrases (at least one) and `filler` words, per locale.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnhelpedConfig {
    pub said: BTreeMap<Locale, Vec<String>>,
    pub filler: BTreeMap<Locale, Vec<String>>,
}

/// A message that states something instead of giving the detail the bot asked for ("I ordered it
/// yesterday, it hasn't shipped yet" after "which order would you like to cancel?") is background
/// to the request, not a new one, when the intent it reads as would ask for that same detail:
/// the question stands, for the request the customer made.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackgroundConfig {
    /// Intents whose statements are requests in themselves ("it arrived broken", "I was charged
    /// twice"): a new topic, however they are worded.
    pub request_intents: Vec<IntentName>,
    /// Words that make a message a request or a question ("want", "instead", "たい", "ください"),
    /// per locale.
    pub request_words: BTreeMap<Locale, Vec<String>>,
    /// Commands: a message that opens with one ("cancel it", "ok, just change the address") is a
    /// request, however short. Whole words, per locale.
    pub imperatives: BTreeMap<Locale, Vec<String>>,
    /// What may come before a command ("ok", "then", "just").
    pub imperative_lead_ins: BTreeMap<Locale, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowUpConfig {
    /// The running topic is the intent the bot answered within this many turns.
    pub within_turns: u32,
    /// A follow-up is short: at most this many words of Latin script …
    pub max_words: usize,
    /// … or this many characters of other scripts (Japanese has no spaces).
    pub max_chars: usize,
    /// Above this confidence a message's own intent wins even when it points back.
    pub override_below: f32,
    /// Words that point back to what was just said, per locale.
    pub markers: BTreeMap<Locale, Vec<String>>,
    /// Intents that stand for "no other intent answers this" (`other_question`): a running topic
    /// whose answer turns on what the message asks wins over them, however sure the classifier
    /// is ("宛名を会社名にできますか" after a receipt answer is about the receipt).
    pub catch_all_intents: Vec<IntentName>,
    /// What any topic may be asked ("how much?", "how long?"): a message that shares only these
    /// with the question before does not restate it ("何円以上で送料無料でしたっけ" after the
    /// cash-on-delivery fee asks about shipping, though both ask what something costs).
    pub generic_questions: FacetValues,
    /// The cases answers turn on ("if it hasn't shipped yet, …"): a short message stating one
    /// ("まだ発送されていません" after the order-change answer) continues the topic whose answer
    /// has words for it, however surely the classifier reads it as another intent (the order
    /// status).
    pub cases: FacetValues,
    /// Intent → facet values: right after that intent's answer, which tells the customer to
    /// contact support when it has not helped, a message saying so ("もう10日経ってます" after the
    /// shipping answer), once the order number is known, is that contact: a person takes it.
    pub hand_over_when: BTreeMap<IntentName, FacetValues>,
}

impl Default for FollowUpConfig {
    fn default() -> Self {
        Self {
            within_turns: 2,
            max_words: 8,
            max_chars: 24,
            override_below: 0.9,
            markers: BTreeMap::new(),
            catch_all_intents: Vec::new(),
            generic_questions: FacetValues::default(),
            cases: FacetValues::default(),
            hand_over_when: BTreeMap::new(),
        }
    }
}

/// Replies to a question for a detail that drop the request instead ("never mind").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithdrawnConfig {
    /// The intent the bot then answers as (a polite close), instead of asking again.
    pub reply_intent: Option<IntentName>,
    /// The words that drop it, per locale.
    pub markers: BTreeMap<Locale, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VagueConfig {
    /// Words that carry no request of their own ("question", "about", "について"), per locale.
    pub filler: BTreeMap<Locale, Vec<String>>,
    pub topics: Vec<VagueTopic>,
    /// Entity → the intents a message holding only that entity may mean ("MD12345678" alone:
    /// its status, cancelling, changing or returning it).
    pub entities: BTreeMap<String, Vec<IntentName>>,
    /// Entity → the intents whose answers tell the customer to contact a person with it ("…
    /// please contact our support team with your order number"): the entity alone right after
    /// one of those answers is that contact, and a person takes the conversation.
    pub hand_over_after: BTreeMap<String, Vec<IntentName>>,
    pub scene: SceneConfig,
}

/// A message that only sets the scene ("Hi, I'm Ken. I ordered shoes last week", "先週靴を注文
/// した田中です"): it names one topic and, besides filler and these words, at most a few words
/// (what was bought, a name), and at least one of these words. It has not said what it wants yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SceneConfig {
    /// Facet → values that only set the scene ("I ordered", "注文した": `about: [my_order]`);
    /// any other facet says what the message asks.
    pub facets: FacetValues,
    /// Words of times ("in October", "先月"), per locale; a scene names one of them or of
    /// `introductions` at least.
    pub words: BTreeMap<Locale, Vec<String>>,
    /// Words customers introduce themselves with ("my name is", "と申します", "者です"), per
    /// locale. An introduction is not a request, so a scene with one offers the topic's choices
    /// even when the classifier is sure of an intent from what was bought and when.
    pub introductions: BTreeMap<Locale, Vec<String>>,
    /// What may remain besides: at most this many English words and other characters.
    pub max_words: usize,
    pub max_chars: usize,
}

/// What a message that only sets the scene names.
#[derive(Debug, Clone, Copy)]
pub struct Scene<'a> {
    /// The topic's intents.
    pub intents: &'a [IntentName],
    /// Whether the customer introduced themself (`SceneConfig::introductions`).
    pub introduced: bool,
}

/// A topic word and the intents a vague message about it may mean.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VagueTopic {
    pub words: Vec<String>,
    pub intents: Vec<IntentName>,
}

/// The compiled word lists.
#[derive(Debug, Clone)]
pub struct Context {
    markers: Lexicon,
    /// Longest first, so that "お支払い" is removed before "支払い".
    filler: Vec<String>,
    topics: Vec<(Vec<String>, Vec<IntentName>)>,
    entities: BTreeMap<String, Vec<IntentName>>,
    hand_over_after: BTreeMap<String, Vec<IntentName>>,
    scene_facets: FacetValues,
    /// Folded, longest first.
    scene_words: Vec<String>,
    /// Folded, longest first.
    scene_introductions: Vec<String>,
    scene_rest: (usize, usize),
    config: FollowUpConfig,
    small_talk: Vec<IntentName>,
    closing: Vec<IntentName>,
    declined: Lexicon,
    withdrawn: Lexicon,
    withdrawn_reply: Option<IntentName>,
    where_to_find: Lexicon,
    /// Lower case, longest first.
    openers: Vec<String>,
    /// Folded, longest first.
    acknowledgements: Vec<String>,
    opening_reply: Option<IntentName>,
    /// Folded, longest first.
    consents: Vec<String>,
    request_intents: Vec<IntentName>,
    request_words: Lexicon,
    /// Folded.
    imperatives: Vec<String>,
    /// Folded.
    imperative_lead_ins: Vec<String>,
    /// Folded, longest first.
    unhelped_said: Vec<String>,
    /// Folded, longest first.
    unhelped_filler: Vec<String>,
    own_sentence: OwnSentenceConfig,
    pointers: Lexicon,
    another: Lexicon,
    /// Folded, longest first.
    conjunctions: Vec<String>,
    language_requests: Vec<(Locale, Lexicon)>,
    language_request_length: (usize, usize),
    language_request_reply: Option<IntentName>,
}

impl Context {
    pub fn new(config: &ContextConfig) -> Context {
        let markers = Lexicon::new(config.follow_up.markers.values().flatten());
        let filler = folded_longest_first(&config.vague.filler);
        let topics = config
            .vague
            .topics
            .iter()
            .map(|t| {
                (
                    longest_first(t.words.iter().map(|w| fold(w))),
                    t.intents.clone(),
                )
            })
            .collect();
        Context {
            markers,
            filler,
            topics,
            entities: config.vague.entities.clone(),
            hand_over_after: config.vague.hand_over_after.clone(),
            scene_facets: config.vague.scene.facets.clone(),
            scene_words: folded_longest_first(&config.vague.scene.words),
            scene_introductions: folded_longest_first(&config.vague.scene.introductions),
            scene_rest: (config.vague.scene.max_words, config.vague.scene.max_chars),
            config: config.follow_up.clone(),
            small_talk: config.small_talk_intents.clone(),
            closing: config.closing_intents.clone(),
            declined: Lexicon::new(config.declined.values().flatten()),
            withdrawn: Lexicon::new(config.withdrawn.markers.values().flatten()),
            withdrawn_reply: config.withdrawn.reply_intent.clone(),
            where_to_find: Lexicon::new(config.where_to_find.values().flatten()),
            openers: longest_first(config.openers.values().flatten().map(|w| w.to_lowercase())),
            acknowledgements: folded_longest_first(&config.acknowledgements),
            opening_reply: config.opening_reply.clone(),
            consents: folded_longest_first(&config.consents),
            request_intents: config.background.request_intents.clone(),
            request_words: Lexicon::new(config.background.request_words.values().flatten()),
            imperatives: folded_longest_first(&config.background.imperatives),
            imperative_lead_ins: folded_longest_first(&config.background.imperative_lead_ins),
            unhelped_said: folded_longest_first(&config.unhelped.said),
            unhelped_filler: folded_longest_first(&config.unhelped.filler),
            own_sentence: config.own_sentence.clone(),
            pointers: Lexicon::new(config.own_sentence.pointers.values().flatten()),
            another: Lexicon::new(config.own_sentence.another.values().flatten()),
            conjunctions: folded_longest_first(&config.own_sentence.conjunctions),
            language_requests: config
                .language_requests
                .phrases
                .iter()
                .map(|(locale, phrases)| (locale.clone(), Lexicon::new(phrases)))
                .collect(),
            language_request_length: (
                config.language_requests.max_words,
                config.language_requests.max_chars,
            ),
            language_request_reply: config.language_requests.reply_intent.clone(),
        }
    }

    /// What a bare acknowledgement gets when the bot has said nothing yet.
    pub fn opening_reply(&self) -> Option<&IntentName> {
        self.opening_reply.as_ref()
    }

    /// What a request for another language gets when the bot has said nothing yet.
    pub fn language_request_reply(&self) -> Option<&IntentName> {
        self.language_request_reply.as_ref()
    }

    /// The language a short message asks the bot to use, if it asks for one.
    pub fn requested_language(&self, text: &str) -> Option<&Locale> {
        let length = Length::of(text);
        let (max_words, max_chars) = self.language_request_length;
        if length.words > max_words || length.other_chars > max_chars {
            return None;
        }
        let folded = fold(text);
        self.language_requests
            .iter()
            .find(|(_, phrases)| phrases.any(&folded))
            .map(|(locale, _)| locale)
    }

    /// `text`, read as `intent`, states something without asking or requesting anything, and
    /// `intent` is not one whose statements are requests (see [`BackgroundConfig`]); whether it
    /// ends as a question is for the caller to check.
    pub fn only_states(&self, text: &str, intent: &IntentName) -> bool {
        !self.request_intents.contains(intent) && !self.requests(text)
    }

    /// `text` holds a word of asking or requesting (`background.request_words`), or opens with
    /// a command (`background.imperatives`).
    pub fn requests(&self, text: &str) -> bool {
        let folded = fold(text);
        self.request_words.any(&folded) || self.opens_with_a_command(&folded)
    }

    /// The first word of the folded text, lead-ins ("ok", "then") skipped, is a command.
    fn opens_with_a_command(&self, folded: &str) -> bool {
        let mut words = folded
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .skip_while(|w| self.imperative_lead_ins.iter().any(|l| l == w));
        words
            .next()
            .is_some_and(|w| self.imperatives.iter().any(|i| i == w))
    }

    /// The message says nothing but "ok" ("ok", "はい、わかりました", "sure!").
    pub fn is_acknowledgement(&self, text: &str) -> bool {
        made_only_of(text, &self.acknowledgements)
    }

    /// `text` only accepts what was offered ("yes please", "はい、お願いします").
    pub fn is_consent(&self, text: &str) -> bool {
        made_only_of(text, &self.consents)
    }

    /// The message says the answer before it did not help ("it still doesn't work", "まだ
    /// できません"), and nothing else.
    pub fn says_it_did_not_help(&self, text: &str) -> bool {
        // Phones type "doesn’t" with a typographic apostrophe.
        let folded = fold(&text.replace('\u{2019}', "'"));
        if self.only_did_not_help(folded.clone()) {
            return true;
        }
        // "全部確認しましたがだめでした", "I followed the steps but it still doesn't work": a short
        // clause of what was tried (no request in it), then only that it did not help.
        let Some((tried, rest)) = after_last_concession(&folded) else {
            return false;
        };
        let length = Length::of(tried);
        length.words <= self.config.max_words
            && length.other_chars <= MAX_TRIED_CHARS
            && !self.request_words.any(tried)
            && self.only_did_not_help(rest.to_string())
    }

    /// `rest` (folded) holds an `unhelped.said` phrase and nothing else but filler.
    fn only_did_not_help(&self, mut rest: String) -> bool {
        remove_terms(&mut rest, &self.unhelped_said) && {
            remove_terms(&mut rest, &self.unhelped_filler);
            !rest.chars().any(char::is_alphanumeric)
        }
    }

    /// The sentences of substance in `text` (3+ words or 5+ other characters each), split at
    /// sentence ends and line breaks, at most [`MAX_SENTENCES`]; empty when there are fewer than
    /// two, so a message of one sentence is classified once.
    pub fn sentences<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let sentences: Vec<&str> = split_sentences(text)
            .into_iter()
            .map(str::trim)
            .filter(|s| is_substantial(s))
            .take(MAX_SENTENCES)
            .collect();
        if sentences.len() < 2 {
            return Vec::new();
        }
        sentences
    }

    /// A sentence that may get an answer of its own: long enough (`own_sentence`) and pointing
    /// back at nothing.
    pub fn stands_alone(&self, sentence: &str) -> bool {
        let length = Length::of(sentence);
        let long = length.words >= self.own_sentence.min_words
            || length.other_chars >= self.own_sentence.min_chars;
        let mut rest = fold(sentence);
        remove_terms(&mut rest, &self.conjunctions);
        long && !self.pointers.any(&rest)
    }

    /// The classifier is sure enough of a sentence alone for it to get an answer of its own.
    pub fn sure_alone(&self, confidence: f32) -> bool {
        confidence >= self.own_sentence.min_confidence
    }

    /// The sentence is about another thing of the kind (`own_sentence.another`: "my other
    /// order", "別の注文").
    pub fn about_another(&self, sentence: &str) -> bool {
        self.another.any(&fold(sentence))
    }

    /// The request after the greetings `text` opens with ("hello, my order is late" → "my order
    /// is late"), when there is one of substance; `None` when the message is not a greeting
    /// followed by something else. A slice of `text` itself, so the classifier sees the
    /// customer's own characters.
    pub fn request_after_greeting<'t>(&self, text: &'t str) -> Option<&'t str> {
        let mut rest = text.trim_start();
        let mut stripped = false;
        while let Some(after) = self.openers.iter().find_map(|o| after_opener(rest, o)) {
            rest = after.trim_start_matches(|c: char| !c.is_alphanumeric());
            stripped = true;
        }
        (stripped && is_substantial(rest)).then_some(rest)
    }

    pub fn follow_up(&self) -> &FollowUpConfig {
        &self.config
    }

    pub fn is_small_talk(&self, intent: &IntentName) -> bool {
        self.small_talk.contains(intent)
    }

    /// Courtesy that ends an exchange ("ok thanks", "bye").
    pub fn is_closing(&self, intent: &IntentName) -> bool {
        self.closing.contains(intent)
    }

    /// The message points back to what was just said ("that", "それ", "how long").
    pub fn points_back(&self, text: &str) -> bool {
        self.markers.any(&fold(text))
    }

    /// The message, a reply to a question for a detail, says the customer does not have it.
    pub fn declines(&self, text: &str) -> bool {
        self.declined.any(&fold(text))
    }

    /// The intent to answer as when the message, a reply to a question for a detail, drops the
    /// request ("never mind"); `None` when it does not, or nothing is configured to answer it.
    pub fn withdrawal_reply(&self, text: &str) -> Option<&IntentName> {
        self.withdrawn_reply
            .as_ref()
            .filter(|_| self.withdrawn.any(&fold(text)))
    }

    /// The courtesy that closes a conversation politely (`withdrawn.reply_intent`), if configured.
    pub fn polite_close(&self) -> Option<&IntentName> {
        self.withdrawn_reply.as_ref()
    }

    /// The message, a reply to a question for a detail, asks where that detail can be found.
    pub fn asks_where_to_find(&self, text: &str) -> bool {
        self.where_to_find.any(&fold(text))
    }

    /// Short enough to be a follow-up rather than a question of its own.
    pub fn is_short(&self, text: &str) -> bool {
        let length = Length::of(text);
        length.words <= self.config.max_words && length.other_chars <= self.config.max_chars
    }

    /// The intents a message may mean that holds nothing but one entity of `vague.entities`
    /// (`found`: the entities it holds; `residual`: the message with them blanked out) and filler.
    pub fn vague_entity<'a>(
        &self,
        found: impl IntoIterator<Item = &'a str>,
        residual: &str,
    ) -> Option<&[IntentName]> {
        let mut named: Vec<&str> = found.into_iter().collect();
        named.dedup();
        let [only] = named.as_slice() else {
            return None;
        };
        let intents = self.entities.get(*only)?;
        // "My order number is MD12345678, thanks": naming the entity's topic adds nothing.
        let mut rest = fold(residual);
        for (words, _) in &self.topics {
            remove_terms(&mut rest, words);
        }
        self.only_filler(rest).then_some(intents.as_slice())
    }

    /// Whether `entity` alone, right after an answer of `intent`, goes to a person
    /// (`vague.hand_over_after`).
    pub fn hands_over(&self, entity: &str, intent: &IntentName) -> bool {
        self.hand_over_after
            .get(entity)
            .is_some_and(|intents| intents.contains(intent))
    }

    /// `rest` (folded) says nothing of substance once the filler words are gone.
    fn only_filler(&self, mut rest: String) -> bool {
        remove_terms(&mut rest, &self.filler);
        !rest.chars().any(char::is_alphanumeric)
    }

    /// The intents of the topic a vague message names, when it names exactly one topic and says
    /// nothing else of substance.
    pub fn vague_topic(&self, text: &str) -> Option<&[IntentName]> {
        let (intents, rest) = self.one_topic(text)?;
        self.only_filler(rest).then_some(intents)
    }

    /// The facet only sets the scene (`vague.scene.facets`).
    pub fn sets_the_scene(&self, facet: &Found) -> bool {
        self.scene_facets.lists(facet)
    }

    /// The intents of the one topic `text` names when it says little else (see
    /// [`SceneConfig`]); whether it asks or requests anything is for the caller to check.
    pub fn scene_topic(&self, text: &str) -> Option<Scene<'_>> {
        let (intents, mut rest) = self.one_topic(text)?;
        let introduced = remove_terms(&mut rest, &self.scene_introductions);
        // "My order is late" names no time and no one: a state, not a scene.
        let scene_named = remove_terms(&mut rest, &self.scene_words) || introduced;
        remove_terms(&mut rest, &self.filler);
        let length = Length::of(&rest);
        let (max_words, max_chars) = self.scene_rest;
        // Japanese names and things are kanji and katakana; hiragana left over is a verb or an
        // ending ("まだ届いていません"): what happened, not who bought what.
        let hiragana = rest.chars().any(|c| ('\u{3041}'..='\u{309f}').contains(&c));
        (scene_named && !hiragana && length.words <= max_words && length.other_chars <= max_chars)
            .then_some(Scene {
                intents,
                introduced,
            })
    }

    /// The intents of the one topic `text` names, and the folded text without its words.
    fn one_topic(&self, text: &str) -> Option<(&[IntentName], String)> {
        let mut rest = fold(text);
        let mut named = None;
        for (words, intents) in &self.topics {
            if remove_terms(&mut rest, words) {
                if named.is_some() {
                    return None;
                }
                named = Some(intents.as_slice());
            }
        }
        named.map(|intents| (intents, rest))
    }
}

/// `text` cut after each sentence end: 。？！ (either width), a line break, or a full stop
/// followed by a space ("1.5" and "e.g." mid-word stay whole).
fn split_sentences(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let end = matches!(c, '。' | '？' | '?' | '！' | '!' | '\n' | '．')
            || (c == '.' && next.is_none_or(char::is_whitespace))
            || (c == ',' && opens_second_question(&text[i + 1..]));
        if end {
            let cut = i + c.len_utf8();
            parts.push(&text[start..cut]);
            start = cut;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// After a comma, a second question joined by "and"/"also" ("How much is shipping, and do you
/// accept PayPay?"): a sentence of its own.
fn opens_second_question(rest: &str) -> bool {
    const JOINS: [&str; 4] = ["and also ", "and ", "also ", "plus "];
    const OPENERS: [&str; 17] = [
        "do ", "does ", "can ", "could ", "is ", "are ", "will ", "would ", "what ", "what's ",
        "how ", "when ", "where ", "which ", "why ", "who ", "should ",
    ];
    let rest = rest.trim_start().to_ascii_lowercase();
    JOINS.iter().any(|join| {
        rest.strip_prefix(join)
            .is_some_and(|after| OPENERS.iter().any(|o| after.starts_with(o)))
    })
}

/// Sentences of one message classified on their own, at most.
const MAX_SENTENCES: usize = 3;

/// Japanese characters a "what I tried" clause before "…but it did not help" may have.
const MAX_TRIED_CHARS: usize = 16;

/// Where a clause turns to "but" ("試しましたが", "やっても", "I did that but"): the folded text
/// before and after the last such turn.
fn after_last_concession(folded: &str) -> Option<(&str, &str)> {
    const TURNS: [&str; 9] = [
        "ましたが",
        "ましたけど",
        "ましたけれど",
        "たけど",
        "たけれど",
        "たのですが",
        "たんですが",
        "ても",
        "but",
    ];
    let whole = |i: usize, turn: &str| {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        !turn.is_ascii()
            || (!word(folded[..i].chars().next_back())
                && !word(folded[i + turn.len()..].chars().next()))
    };
    TURNS
        .iter()
        .filter_map(|turn| {
            let (i, _) = folded.rmatch_indices(turn).find(|(i, _)| whole(*i, turn))?;
            Some((i, i + turn.len()))
        })
        .max_by_key(|(_, end)| *end)
        .map(|(start, end)| (&folded[..start], &folded[end..]))
}

/// `text` holds some of `terms` (folded, longest first) and, once they are blanked, nothing but
/// punctuation and spaces.
fn made_only_of(text: &str, terms: &[String]) -> bool {
    let mut rest = fold(text);
    remove_terms(&mut rest, terms) && !rest.chars().any(char::is_alphanumeric)
}

/// Every locale's words, folded, longest first.
fn folded_longest_first(per_locale: &BTreeMap<Locale, Vec<String>>) -> Vec<String> {
    longest_first(per_locale.values().flatten().map(|w| fold(w)))
}

fn longest_first(words: impl Iterator<Item = String>) -> Vec<String> {
    let mut words: Vec<String> = words.filter(|w| !w.is_empty()).collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words
}

/// `text` after `opener` (lower case) when it opens with it as a whole word.
fn after_opener<'t>(text: &'t str, opener: &str) -> Option<&'t str> {
    let head = text.get(..opener.len())?;
    let rest = &text[opener.len()..];
    if !head.eq_ignore_ascii_case(opener) {
        return None;
    }
    // "hi" opens "hi, …" but not "hiking boots"; Japanese has no spaces to wait for.
    let glued = opener.is_ascii() && rest.chars().next().is_some_and(char::is_alphanumeric);
    (!glued).then_some(rest)
}

/// A request of its own: three words of Latin script, or five other characters.
fn is_substantial(text: &str) -> bool {
    let length = Length::of(text);
    length.words >= 3 || length.other_chars >= 5
}

/// How long a message is, in words of Latin script and characters of other scripts (Japanese
/// has no spaces to count words by), once [`fold`]ed.
struct Length {
    words: usize,
    other_chars: usize,
}

impl Length {
    fn of(text: &str) -> Length {
        let folded = fold(text);
        let words = folded
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .count();
        let other_chars = folded
            .chars()
            .filter(|c| !c.is_ascii() && c.is_alphanumeric())
            .count();
        Length { words, other_chars }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        let yaml = r#"
follow_up:
  markers: {en: [that, it, how long], ja: [それ, いつ頃]}
small_talk_intents: [thanks]
vague:
  filler:
    en: [i, have, a, question, about, an, my, help, with, need]
    ja: [について, 質問, があります, 聞きたい, です]
  topics:
    - words: [order, 注文]
      intents: [order_status, cancel_order]
    - words: [account, アカウント]
      intents: [update_account]
"#;
        Context::new(&serde_norway::from_str(yaml).expect("valid"))
    }

    #[test]
    fn did_not_help_is_all_a_message_says_or_follows_what_was_tried() {
        let yaml = r#"
follow_up: {max_words: 8}
background:
  request_words: {en: [want, please], ja: [たい, ください]}
unhelped:
  said: {en: ["doesn't work", "didn't help", "is correct"], ja: [だめでした, できません]}
  filler: {en: [it, still, my, email, address, work], ja: [まだ, それでも]}
"#;
        let c = Context::new(&serde_norway::from_str(yaml).expect("valid"));
        for said in [
            "It still doesn't work.",
            "it still doesn\u{2019}t work!!",
            "My email address is correct",
            "まだできません",
            "それでもだめでした。",
            "全部確認しましたがだめでした",
            "やってもだめでした",
            "I followed the steps but it still doesn't work",
        ] {
            assert!(c.says_it_did_not_help(said), "{said}");
        }
        for other in [
            "My coupon still doesn't work",
            "ログインできません",
            "It didn't help but I want to return it",
            "I want to return it but it doesn't work",
            "返品したいのですがだめでした",
            "still",
            "",
        ] {
            assert!(!c.says_it_did_not_help(other), "{other}");
        }
    }

    #[test]
    fn a_message_of_several_sentences_of_substance_is_split_into_them() {
        let c = context();
        assert_eq!(
            c.sentences("送料はいくらですか。あと、返品の期限はいつまでですか？"),
            ["送料はいくらですか。", "あと、返品の期限はいつまでですか？"]
        );
        assert_eq!(
            c.sentences("How much is shipping? Also, what payment methods do you accept?\nThanks"),
            [
                "How much is shipping?",
                "Also, what payment methods do you accept?"
            ]
        );
        // A second question joined by ", and" is a sentence of its own; a list is not.
        assert_eq!(
            c.sentences("How much is shipping, and do you accept PayPay?"),
            ["How much is shipping,", "and do you accept PayPay?"]
        );
        assert!(c
            .sentences("I ordered shoes, a shirt, and a hat last week")
            .is_empty());
        // One sentence of substance, or a short one beside it, is classified once.
        assert!(c.sentences("送料はいくらですか？").is_empty());
        assert!(c.sentences("はい。送料は？").is_empty());
        assert!(c.sentences("Hi! Where is my order?").is_empty());
        // A sentence stands alone when long enough and pointing back at nothing.
        let yaml = r#"
own_sentence:
  min_words: 4
  min_chars: 8
  pointers: {en: [it, that], ja: [それ]}
  conjunctions: {ja: [それと]}
"#;
        let own = Context::new(&serde_norway::from_str(yaml).expect("valid"));
        assert!(own.stands_alone("What payment methods do you accept?"));
        assert!(own.stands_alone("それと、クーポンは併用できますか？"));
        assert!(!own.stands_alone("Can I cancel it?"));
        assert!(!own.stands_alone("変更できますか。"));
        assert!(!own.stands_alone("それは無料ですか、送料は？"));
        // At most three.
        assert_eq!(
            c.sentences("one two three. four five six. seven eight nine. ten eleven twelve.")
                .len(),
            3
        );
    }

    #[test]
    fn vague_messages_name_one_topic_and_nothing_else() {
        let c = context();
        let names = |t: &str| c.vague_topic(t).map(|i| i.len());
        assert_eq!(names("I have a question about an order"), Some(2));
        assert_eq!(names("注文について質問があります"), Some(2));
        assert_eq!(names("I need help with my account!"), Some(1));
        assert_eq!(
            names("I want to cancel my order"),
            None,
            "cancel is substance"
        );
        assert_eq!(names("a question about my order and my account"), None);
        assert_eq!(names("reorder"), None, "whole words only");
        assert_eq!(names("hello"), None);
    }

    #[test]
    fn a_request_is_read_without_the_greeting_it_opens_with() {
        let c = Context::new(
            &serde_norway::from_str(
                "openers: {en: [hello, hi, hi there, good morning], ja: [こんにちは, お世話になっております, すみません]}",
            )
            .expect("valid"),
        );
        let request = |t| c.request_after_greeting(t);
        assert_eq!(request("Hello, my order is late"), Some("my order is late"));
        assert_eq!(
            request("hi there!! where is my parcel?"),
            Some("where is my parcel?")
        );
        assert_eq!(
            request("こんにちは。お世話になっております。返品したいです"),
            Some("返品したいです")
        );
        assert_eq!(
            request("すみません注文をキャンセルしたい"),
            Some("注文をキャンセルしたい")
        );
        assert_eq!(request("hello"), None, "a greeting alone");
        assert_eq!(request("hi, thanks"), None, "nothing of substance after it");
        assert_eq!(
            request("hiking boots in size 28?"),
            None,
            "whole words only"
        );
        assert_eq!(
            request("where is my order? hello?"),
            None,
            "only at the start"
        );
        assert_eq!(request("good morning"), None);
    }

    #[test]
    fn an_entity_alone_may_name_its_topic() {
        let c = Context::new(
            &serde_norway::from_str(
                r#"
vague:
  filler: {en: [my, is, thanks], ja: [です, 番号]}
  topics:
    - words: [order, 注文]
      intents: [order_status, cancel_order]
  entities:
    order_id: [order_status, cancel_order]
"#,
            )
            .expect("valid"),
        );
        let alone = |residual: &str| c.vague_entity(["order_id"], residual).is_some();
        assert!(alone(" "));
        assert!(alone("my order is  , thanks"));
        assert!(alone("注文番号  です"));
        assert!(!alone("cancel my order  "), "cancel is substance");
        assert!(c.vague_entity(["order_id", "email"], " ").is_none());
    }

    #[test]
    fn follow_ups_are_short_and_may_point_back() {
        let c = context();
        assert!(c.points_back("who pays the shipping for that?"));
        assert!(c.points_back("How long?"));
        assert!(!c.points_back("Where is my parcel?"));
        assert!(!c.points_back("thatcher"), "whole words only");
        assert!(c.points_back("それもキャンセルできますか"));
        assert!(c.is_short("what if I already opened it?"));
        assert!(!c.is_short("I ordered a jacket last week and it still has not arrived at my home"));
        assert!(c.is_short("いつ頃になりますか"));
    }
}
