//! The typed domain shared by every layer, from the catalog to the store: intent names, locales,
//! conversation and ticket statuses, roles, the bot's action and turn kind, handoff reasons, and a
//! client's message id. A leaf module: it imports nothing from the crate, so any layer may use it.
//!
//! Each type has exactly one string form, used in JSON (serde), in the database and in metrics
//! labels alike.
use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a closed set with one text form per value: `as_str` for binding and labels, `parse`
/// for decoding, serde with the same texts, `ALL` in declaration order.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one text form (JSON, database, metrics).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value for its text form, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The label of out-of-scope training data (a file name, never an intent).
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// A validated intent name: lower_snake_case, not the reserved `out_of_scope`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntentName(String);

impl IntentName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IntentName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(format!(
                "intent name {s:?} must be lower_snake_case ([a-z][a-z0-9_]*)"
            ));
        }
        if s == OUT_OF_SCOPE {
            return Err(format!(
                "{OUT_OF_SCOPE:?} is reserved for out-of-scope messages"
            ));
        }
        Ok(Self(s))
    }
}

impl TryFrom<&str> for IntentName {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        IntentName::try_from(s.to_string())
    }
}

impl From<IntentName> for String {
    fn from(n: IntentName) -> String {
        n.0
    }
}

/// Read access to the name as text (`Option<IntentName>::as_deref()`, `&*name`).
impl std::ops::Deref for IntentName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for IntentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by intent can be looked up with a `&str` name (same order and hash as the string).
impl Borrow<str> for IntentName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for IntentName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for IntentName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for IntentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A language code of the catalog (`ja`, `en`, `en-US`, `zh-Hant`, …), BCP 47-ish: a primary
/// language subtag of 2–8 ASCII letters, then subtags of 1–8 letters or digits, joined by `-`.
/// Which locales exist is catalog data; this only rules out what cannot be a language code (a path,
/// an empty string), so it is safe in file names and template names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    /// The locale for `code`, if it is a well-formed language code.
    pub fn parse(code: &str) -> Result<Self, String> {
        let mut subtags = code.split('-');
        let primary = subtags.next().unwrap_or_default();
        let primary_ok =
            (2..=8).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
        let rest_ok = subtags
            .all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()));
        if primary_ok && rest_ok {
            Ok(Self(code.to_string()))
        } else {
            Err(format!(
                "locale {code:?} is not a language code (like ja, en or en-US)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Locale {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Locale::parse(&s)
    }
}

impl TryFrom<&str> for Locale {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        Locale::parse(s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0
    }
}

/// Maps keyed by locale can be looked up with a `&str` code (same order and hash as the string).
impl Borrow<str> for Locale {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_enum! {
    /// What the bot does with a message.
    Action {
        /// Confident: answer from the intent's templates.
        Answer = "answer",
        /// Two intents are too close: ask which one the customer means.
        Clarify = "clarify",
        /// Not sure, out of scope, or an intent that always goes to a person.
        Handoff = "handoff",
    }
}

text_enum! {
    /// Why the classifier chose its action (part of the JSON contract).
    Reason {
        Confident = "confident",
        Ambiguous = "ambiguous",
        LowConfidence = "low_confidence",
        OutOfScope = "out_of_scope",
        AlwaysHandoff = "always_handoff",
    }
}

text_enum! {
    /// What the bot did on a turn (finer than [`Action`], for transcripts and metrics).
    TurnKind {
        /// Answered from the intent's templates.
        Answer = "answer",
        /// "Did you mean A or B?"
        Clarify = "clarify",
        /// Asked for a detail the answer needs.
        AskSlot = "ask_slot",
        /// Asked the customer to rephrase.
        Rephrase = "rephrase",
        /// Said what it can help with.
        OutOfScope = "out_of_scope",
        /// Handed the conversation to a person.
        Handoff = "handoff",
        /// A person has the conversation: no reply.
        Silent = "silent",
    }
}

text_enum! {
    /// Why the conversation went to a person (part of the API).
    HandoffReason {
        /// The customer asked for a person.
        ExplicitRequest = "explicit_request",
        /// An intent with `handoff: always` that is neither a complaint nor a request for a person.
        AlwaysHandoffIntent = "always_handoff_intent",
        /// The bot did not understand, twice in a row.
        LowConfidence = "low_confidence",
        /// The bot cannot help with this, said twice in a row.
        OutOfScope = "out_of_scope",
        /// The answer needs a detail (an order number) the customer could not give, twice.
        DetailMissing = "detail_missing",
        /// The customer is frustrated.
        Frustration = "frustration",
        /// The customer asked a third time in a row what the bot had answered twice: the answer
        /// does not help.
        Unresolved = "unresolved",
        Complaint = "complaint",
        /// The bot's answer told the customer to contact a person with a detail (an order number
        /// for a double charge), and the customer sent it here: a person takes it from there.
        Referred = "referred",
    }
}

text_enum! {
    /// Who has the conversation.
    ConversationStatus {
        /// The bot answers.
        Bot = "bot",
        /// Handed off: a ticket waits for a person; the bot stays silent.
        Handoff = "handoff",
        /// A person has claimed it; the bot stays silent.
        Agent = "agent",
        /// Over: no more messages are accepted.
        Resolved = "resolved",
    }
}

impl ConversationStatus {
    /// True while a person has (or is about to have) the conversation and the bot must stay silent.
    pub fn is_with_human(self) -> bool {
        matches!(
            self,
            ConversationStatus::Handoff | ConversationStatus::Agent
        )
    }
}

text_enum! {
    /// Who wrote a message.
    Role {
        Customer = "customer",
        Bot = "bot",
        Agent = "agent",
        System = "system",
    }
}

text_enum! {
    /// Where a handoff ticket is.
    HandoffStatus {
        /// In the queue, waiting for a person.
        Waiting = "waiting",
        /// A person has it.
        Claimed = "claimed",
        /// The person handed the conversation back to the bot (it can be claimed again).
        Returned = "returned",
        /// Closed, with a resolution code.
        Resolved = "resolved",
    }
}

/// The client's own id for a customer message (1–64 visible ASCII characters), so that a resend
/// of the same message is recognised and answered with the stored turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientMessageId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let visible = s.bytes().all(|b| b.is_ascii_graphic());
        if s.is_empty() || s.len() > Self::MAX_LEN || !visible {
            return Err(format!(
                "client_message_id must be 1 to {} visible ASCII characters",
                Self::MAX_LEN
            ));
        }
        Ok(Self(s))
    }
}

impl From<ClientMessageId> for String {
    fn from(id: ClientMessageId) -> String {
        id.0
    }
}

impl fmt::Display for ClientMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_has_one_text_form_in_json_too() {
        fn check<T>(all: &[T], parse: fn(&str) -> Option<T>)
        where
            T: Serialize + Copy + fmt::Display + PartialEq + fmt::Debug,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(parse(&text), Some(*v));
                assert_eq!(
                    serde_json::to_string(v).expect("json"),
                    format!("\"{text}\"")
                );
            }
        }
        check(Action::ALL, Action::parse);
        check(Reason::ALL, Reason::parse);
        check(TurnKind::ALL, TurnKind::parse);
        check(HandoffReason::ALL, HandoffReason::parse);
        check(ConversationStatus::ALL, ConversationStatus::parse);
        check(Role::ALL, Role::parse);
        check(HandoffStatus::ALL, HandoffStatus::parse);
        assert_eq!(HandoffReason::ExplicitRequest.as_str(), "explicit_request");
        assert_eq!(TurnKind::AskSlot.as_str(), "ask_slot");
    }

    #[test]
    fn client_message_ids_are_visible_ascii_up_to_64() {
        assert!(ClientMessageId::try_from("m-1".to_string()).is_ok());
        assert!(ClientMessageId::try_from("x".repeat(64)).is_ok());
        for bad in ["", "has space", "日本", "tab\t"] {
            assert!(
                ClientMessageId::try_from(bad.to_string()).is_err(),
                "{bad:?}"
            );
        }
        assert!(ClientMessageId::try_from("x".repeat(65)).is_err());
    }

    #[test]
    fn locales_are_language_codes() {
        for good in ["ja", "en", "en-US", "zh-Hant", "es-419", "yue"] {
            assert_eq!(
                Locale::parse(good).map(|l| l.to_string()),
                Ok(good.to_string())
            );
        }
        for bad in [
            "",
            "j",
            "../x",
            "en_US",
            "en-",
            "-en",
            "日本",
            "en US",
            "toolonglanguage",
        ] {
            assert!(Locale::parse(bad).is_err(), "{bad:?}");
        }
        let l: Locale = serde_json::from_str("\"en-US\"").expect("json");
        assert_eq!(serde_json::to_string(&l).expect("json"), "\"en-US\"");
        assert!(serde_json::from_str::<Locale>("\"a/b\"").is_err());
    }

    #[test]
    fn intent_names_are_snake_case_and_not_reserved() {
        assert!(IntentName::try_from("order_status").is_ok());
        assert!(IntentName::try_from("OrderStatus").is_err());
        assert!(IntentName::try_from(OUT_OF_SCOPE).is_err());
    }
}

text_enum! {
    /// What a person's account may do (each role can do everything the ones before it can).
    AccountRole {
        /// Works tickets in the console.
        Agent = "agent",
        /// Also sees every ticket and the studio.
        Lead = "lead",
        /// Also manages accounts.
        Admin = "admin",
    }
}

impl AccountRole {
    /// Whether this role may do what `required` may.
    pub fn at_least(self, required: AccountRole) -> bool {
        self.rank() >= required.rank()
    }

    fn rank(self) -> u8 {
        match self {
            AccountRole::Agent => 0,
            AccountRole::Lead => 1,
            AccountRole::Admin => 2,
        }
    }
}

text_enum! {
    /// Where a conversation came from (stored with it; KPIs filter by it).
    Channel {
        /// The chat widget on the shop's pages.
        Web = "web",
        /// The customer API, called by someone's own code.
        Api = "api",
        /// LINE (the Messaging API).
        Line = "line",
    }
}

text_enum! {
    /// Why a customer message is in the studio's annotation inbox.
    InboxReason {
        /// The bot asked which of two intents was meant.
        Clarify = "clarify",
        /// The bot was not confident (it asked to rephrase, or answered below the threshold).
        LowConfidence = "low_confidence",
        /// The bot said it cannot help with this.
        OutOfScope = "out_of_scope",
        /// The conversation went to a person after the bot missed.
        HandedOff = "handed_off",
        /// The customer said the answer did not help (👎).
        ThumbsDown = "thumbs_down",
        /// The conversation was rated CSAT 2 or lower.
        LowCsat = "low_csat",
    }
}

text_enum! {
    /// What a lead decided about an inbox message.
    InboxDecisionKind {
        /// Added to an intent's training data.
        Labelled = "labelled",
        /// Added to the out-of-scope training data.
        OutOfScope = "out_of_scope",
        /// Dropped from the inbox for good.
        Ignored = "ignored",
    }
}
