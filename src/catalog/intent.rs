//! One intent as written in `intents/<name>.yaml`: [`Intent`], its [`HandoffMode`] and the
//! [`VariableSpec`]s of its templates. A leaf of the catalog module: the loader, the template check
//! and the Rasa import all use it.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::IntentName;

/// When an intent goes to a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMode {
    /// Always hand the conversation to a person (complaints, explicit requests).
    Always,
    /// Never hand off for this intent.
    Never,
    /// The dialogue policy decides from confidence and the conversation.
    #[default]
    Auto,
}

/// A variable that templates of an intent may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    /// Ask the customer for it before answering.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// How to ask for it, per locale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt: BTreeMap<String, String>,
    /// When a required variable is not asked for: the templates answer without it.
    #[serde(default, skip_serializing_if = "Waiver::is_empty")]
    pub waived: Waiver,
}

impl VariableSpec {
    /// Required, and never left out.
    pub fn always_required(&self) -> bool {
        self.required && self.waived.is_empty()
    }
}

/// When the answer does without a required variable: the question is a general one (a facet or
/// entity of the message has one of the listed values: `about: [general]` for "how long does
/// shipping usually take?", `payment_method: [card]` for "when is the refund? I paid by card"), or
/// the customer says they do not have it ("I haven't ordered yet").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Facet or entity name → values under which the variable is not needed (`"*"`: any value,
    /// for an entity such as a tracking number, whose values are not known in advance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facets: BTreeMap<String, Vec<String>>,
    /// The customer's reply to the question says they do not have it (`context.declined` words).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declined: bool,
}

/// A waiver value that any value of its facet or entity matches.
pub const ANY_VALUE: &str = "*";

impl Waiver {
    pub fn is_empty(&self) -> bool {
        self.facets.is_empty() && !self.declined
    }

    /// Whether the facet `name` having `value` makes the variable unnecessary.
    pub fn by_facet(&self, name: &str, value: &str) -> bool {
        self.facets
            .get(name)
            .is_some_and(|values| values.iter().any(|v| v == value || v == ANY_VALUE))
    }
}

/// One intent as written in `intents/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub name: IntentName,
    pub description: String,
    #[serde(default)]
    pub handoff: HandoffMode,
    /// An intent that always goes to a person answers from its templates instead when a facet of
    /// the message has one of these values: "are you a bot?" (human_agent, `asks: [bot]`) is a
    /// question, answered honestly with a person one click away.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answered_when: BTreeMap<String, Vec<String>>,
    /// Overrides the trained answer threshold for this intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, VariableSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub follow_up: BTreeMap<String, String>,
    pub templates: BTreeMap<String, Vec<String>>,
    /// Where it was read from (not part of the file).
    #[serde(skip)]
    pub source: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::{Waiver, ANY_VALUE};

    #[test]
    fn a_waiver_matches_its_values_or_any_value_of_a_starred_name() {
        let mut waiver = Waiver::default();
        waiver.facets.insert("about".into(), vec!["general".into()]);
        waiver
            .facets
            .insert("tracking_number".into(), vec![ANY_VALUE.into()]);
        assert!(waiver.by_facet("about", "general"));
        assert!(!waiver.by_facet("about", "my_order"));
        assert!(waiver.by_facet("tracking_number", "123456789012"));
        assert!(!waiver.by_facet("order_id", "MD12345678"));
    }
}
