//! Entities (order numbers, e-mail addresses, phone numbers, dates, tracking numbers) picked out of
//! every customer message with the patterns of `intents/_entities.yaml`.
//!
//! Matching runs on the NFKC form of the message (full-width "ＭＤ１２３４" is "MD1234"), then through
//! each entity's own `normalize` steps (upper-case, strip spaces or hyphens …). Spans are mapped back
//! to the NFKC text, so a stretch of text claimed by an earlier entity is never read again by a later
//! one, and what is left over tells whether a message is "just the detail" the bot asked for.
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use regex::{Captures, Regex};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::catalog::Problem;

/// A character-wise text transformation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextStep {
    Upper,
    Lower,
    StripSpaces,
    StripHyphens,
    /// Spaces, hyphens, dots and parentheses (phone numbers).
    StripSeparators,
}

fn is_hyphen(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
    )
}

impl TextStep {
    fn apply(self, c: char, out: &mut String) {
        match self {
            Self::Upper => out.extend(c.to_uppercase()),
            Self::Lower => out.extend(c.to_lowercase()),
            Self::StripSpaces if c.is_whitespace() => {}
            Self::StripHyphens if is_hyphen(c) => {}
            Self::StripSeparators if c.is_whitespace() || is_hyphen(c) || ".()".contains(c) => {}
            _ => out.push(c),
        }
    }
}

/// Applies `steps` to `text`, in order.
pub fn apply_steps(text: &str, steps: &[TextStep]) -> String {
    let mut current = text.to_string();
    for step in steps {
        let mut next = String::with_capacity(current.len());
        for c in current.chars() {
            step.apply(c, &mut next);
        }
        current = next;
    }
    current
}

/// One entity as written in `_entities.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// The key in `_entities.yaml`; also the template variable it fills.
    #[serde(skip)]
    pub name: String,
    /// Steps applied to the (NFKC) message before matching.
    #[serde(default)]
    pub normalize: Vec<TextStep>,
    /// Tried in order; the first to claim a stretch of text keeps it.
    pub patterns: Vec<PatternSpec>,
    /// Tried after `patterns`, only in the reply to the bot's question for this entity: there a
    /// bare "12345678" can only be the order number asked for, while in any other message it
    /// could be anything.
    #[serde(default)]
    pub when_asked: Vec<PatternSpec>,
    /// What a try at this entity looks like when it holds no valid value ("MD-20261128-0007",
    /// "注文番号は1234567です"): matched where no value was found, so that the bot can say what
    /// the format is instead of not understanding.
    #[serde(default)]
    pub attempted: Vec<String>,
    /// Steps applied to the value found.
    #[serde(default)]
    pub clean: Vec<TextStep>,
    /// A facet says what this message asks about (a payment method, "how much", "how long"), so
    /// that the reply can answer exactly that: it fills the template variable for this reply
    /// only, is not remembered by the conversation, and claims no text from other entities.
    #[serde(default)]
    pub facet: bool,
    /// Facets that say the same kind of thing: a message with this one replaces theirs from an
    /// earlier question it follows on ("what about bank transfer?" after "Do you accept PayPal?"
    /// asks about bank transfer, not PayPal).
    #[serde(default)]
    pub replaces: Vec<String>,
}

impl EntitySpec {
    /// One of the patterns gives exactly `value` (a fixed value, not one built from groups).
    pub fn gives(&self, value: &str) -> bool {
        self.patterns.iter().any(|p| p.parts().1 == Some(value))
    }
}

/// A regex, optionally with how to build the value from its groups.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PatternSpec {
    /// The value is the group named `value` when there is one, else the whole match.
    Regex(String),
    WithValue(PatternWithValue),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternWithValue {
    pub pattern: String,
    /// Built from the groups with `$name` / `${name}` (regex replacement syntax), e.g. `MD${n}`.
    pub value: Option<String>,
}

impl PatternSpec {
    fn parts(&self) -> (&str, Option<&str>) {
        match self {
            Self::Regex(p) => (p, None),
            Self::WithValue(p) => (&p.pattern, p.value.as_deref()),
        }
    }
}

struct Compiled {
    name: String,
    facet: bool,
    replaces: Vec<String>,
    normalize: Vec<TextStep>,
    clean: Vec<TextStep>,
    patterns: Vec<(Regex, Option<String>)>,
    when_asked: Vec<(Regex, Option<String>)>,
    attempted: Vec<Regex>,
}

/// The compiled entities, in precedence order.
pub struct EntityExtractor {
    entities: Vec<Compiled>,
}

/// One value found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub value: String,
    /// Where it was found, in [`Extraction::text`].
    pub span: Range<usize>,
}

/// Facet → some of its values, as `_dialogue.yaml` lists them (`policy.complaint_facets`,
/// `policy.out_of_scope_facets`, `policy.shared_questions`, `context.follow_up.generic_questions`,
/// `context.vague.scene.facets`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct FacetValues(BTreeMap<String, Vec<String>>);

impl FacetValues {
    /// `found` is a facet with one of the listed values.
    pub fn lists(&self, found: &Found) -> bool {
        self.0
            .get(&found.name)
            .is_some_and(|values| values.contains(&found.value))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter()
    }
}

/// What one message held.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The NFKC form of the message.
    pub text: String,
    pub found: Vec<Found>,
    /// Every stretch of `text` some entity matched (repeated values included).
    pub claimed: Vec<Range<usize>>,
    /// The facets of the message: the first value of each facet entity that matched.
    pub facets: Vec<Found>,
    /// Tries at an entity that held no valid value (its `attempted` patterns, outside every
    /// value found); `value` is the text tried.
    pub attempts: Vec<Found>,
}

impl Extraction {
    /// The first value of entity `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.found
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// The message with every entity blanked out.
    pub fn residual(&self) -> String {
        self.blanked(self.claimed.iter())
    }

    /// The message with every entity and every try at one blanked out.
    pub fn residual_of_attempts(&self) -> String {
        self.blanked(
            self.claimed
                .iter()
                .chain(self.attempts.iter().map(|a| &a.span)),
        )
    }

    fn blanked<'a>(&self, spans: impl Iterator<Item = &'a Range<usize>> + Clone) -> String {
        let mut out = String::with_capacity(self.text.len());
        for (i, c) in self.text.char_indices() {
            if spans.clone().any(|r| r.contains(&i)) {
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Letters and digits outside the entities ("MD12345678です" has 2).
    pub fn extra_chars(&self) -> usize {
        self.residual()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .count()
    }
}

impl EntityExtractor {
    /// Compiles every pattern; every bad regex is reported against `source` (`_entities.yaml`).
    pub fn new(specs: &[EntitySpec], source: &Path) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut entities = Vec::new();
        for spec in specs {
            if spec.patterns.is_empty() {
                problems.push(Problem::new(
                    source,
                    None,
                    format!("entity {}: no patterns", spec.name),
                ));
            }
            let mut compile = |list: &[PatternSpec], what: &str| {
                let mut compiled = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    let (pattern, value) = p.parts();
                    match Regex::new(pattern) {
                        Ok(re) => compiled.push((re, value.map(str::to_string))),
                        Err(e) => problems.push(Problem::new(
                            source,
                            None,
                            format!(
                                "entity {}: {what} {} is not a valid regex: {e}",
                                spec.name,
                                i + 1
                            ),
                        )),
                    }
                }
                compiled
            };
            let patterns = compile(&spec.patterns, "pattern");
            let when_asked = compile(&spec.when_asked, "when_asked pattern");
            let attempted: Vec<PatternSpec> = spec
                .attempted
                .iter()
                .cloned()
                .map(PatternSpec::Regex)
                .collect();
            let attempted = compile(&attempted, "attempted pattern")
                .into_iter()
                .map(|(re, _)| re)
                .collect();
            entities.push(Compiled {
                name: spec.name.clone(),
                facet: spec.facet,
                replaces: spec.replaces.clone(),
                normalize: spec.normalize.clone(),
                clean: spec.clean.clone(),
                patterns,
                when_asked,
                attempted,
            });
        }
        if problems.is_empty() {
            Ok(Self { entities })
        } else {
            Err(problems)
        }
    }

    /// A facet of this message, `now`, stands in for the facet `earlier` of a question it
    /// follows on: the same facet, or one it `replaces`.
    pub fn supersedes(&self, now: &str, earlier: &str) -> bool {
        now == earlier
            || self
                .entities
                .iter()
                .any(|e| e.name == now && e.replaces.iter().any(|r| r == earlier))
    }

    /// The entity names, in precedence order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().map(|e| e.name.as_str())
    }

    /// Every entity value in `text` (each distinct value of an entity once, in order of precedence).
    pub fn extract(&self, text: &str) -> Extraction {
        self.extract_reply(text, None)
    }

    /// [`Self::extract`] of a message that replies to the bot's question for entity `asked`,
    /// whose `when_asked` patterns count too.
    pub fn extract_reply(&self, text: &str, asked: Option<&str>) -> Extraction {
        let base: String = text.nfkc().collect();
        let mut found: Vec<Found> = Vec::new();
        let mut claimed: Vec<Range<usize>> = Vec::new();
        let mut facets = Vec::new();
        for entity in self.entities.iter().filter(|e| e.facet) {
            facets.extend(entity.first_match(&base));
        }
        for entity in self.entities.iter().filter(|e| !e.facet) {
            let normalized = Normalized::new(&base, &entity.normalize);
            let when_asked = match asked {
                Some(name) if name == entity.name => entity.when_asked.as_slice(),
                _ => &[],
            };
            for (re, value_template) in entity.patterns.iter().chain(when_asked) {
                for caps in captures_all(re, &normalized.text) {
                    let whole = caps.get(0).expect("group 0 always exists");
                    let value_group = caps.name("value");
                    let claim = normalized.to_base(value_group.unwrap_or(whole).range());
                    if claim.is_empty()
                        || claimed
                            .iter()
                            .any(|c| c.start < claim.end && claim.start < c.end)
                    {
                        continue;
                    }
                    let value = value_of(&caps, value_template.as_deref(), &entity.clean);
                    if value.is_empty() {
                        continue;
                    }
                    claimed.push(claim.clone());
                    // The same value twice claims its text but is listed once.
                    if !found
                        .iter()
                        .any(|f| f.name == entity.name && f.value == value)
                    {
                        found.push(Found {
                            name: entity.name.clone(),
                            value,
                            span: claim,
                        });
                    }
                }
            }
        }
        let attempts = self
            .entities
            .iter()
            .filter(|e| !found.iter().any(|f| f.name == e.name))
            .filter_map(|e| e.attempt(&base, &claimed))
            .collect();
        Extraction {
            text: base,
            found,
            claimed,
            facets,
            attempts,
        }
    }
}

/// The value a match stands for: built from the groups by `template`, else the `value` group,
/// else the whole match; then cleaned.
fn value_of(caps: &regex::Captures<'_>, template: Option<&str>, clean: &[TextStep]) -> String {
    let raw = match template {
        Some(t) => {
            let mut s = String::new();
            caps.expand(t, &mut s);
            s
        }
        None => caps
            .name("value")
            .or_else(|| caps.get(0))
            .map_or_else(String::new, |m| m.as_str().to_string()),
    };
    apply_steps(raw.trim(), clean)
}

impl Compiled {
    /// The first stretch of `base` an `attempted` pattern matches outside `claimed`.
    fn attempt(&self, base: &str, claimed: &[Range<usize>]) -> Option<Found> {
        let normalized = Normalized::new(base, &self.normalize);
        self.attempted.iter().find_map(|re| {
            re.find_iter(&normalized.text).find_map(|m| {
                let span = normalized.to_base(m.range());
                let free = !claimed
                    .iter()
                    .any(|c| c.start < span.end && span.start < c.end);
                (free && !span.is_empty()).then(|| Found {
                    name: self.name.clone(),
                    value: base[span.clone()].to_string(),
                    span,
                })
            })
        })
    }

    /// The value of the first pattern that matches anywhere in `base` (for facets).
    fn first_match(&self, base: &str) -> Option<Found> {
        let normalized = Normalized::new(base, &self.normalize);
        self.patterns.iter().find_map(|(re, value_template)| {
            let caps = re.captures(&normalized.text)?;
            let whole = caps.get(0)?;
            let value_group = caps.name("value");
            let value = value_of(&caps, value_template.as_deref(), &self.clean);
            (!value.is_empty()).then(|| Found {
                name: self.name.clone(),
                value,
                span: normalized.to_base(value_group.unwrap_or(whole).range()),
            })
        })
    }
}

/// A normalised copy of the base text with, for each of its bytes, the base range it came from.
struct Normalized {
    text: String,
    /// `None` when no step ran (the identity).
    origin: Option<Vec<Range<usize>>>,
}

impl Normalized {
    fn new(base: &str, steps: &[TextStep]) -> Self {
        if steps.is_empty() {
            return Self {
                text: base.to_string(),
                origin: None,
            };
        }
        let mut text = String::with_capacity(base.len());
        let mut origin = Vec::with_capacity(base.len());
        for (i, c) in base.char_indices() {
            let mut piece = c.to_string();
            for step in steps {
                let mut next = String::new();
                for pc in piece.chars() {
                    step.apply(pc, &mut next);
                }
                piece = next;
            }
            let range = i..i + c.len_utf8();
            origin.extend(std::iter::repeat_n(range, piece.len()));
            text.push_str(&piece);
        }
        Self {
            text,
            origin: Some(origin),
        }
    }

    fn to_base(&self, r: Range<usize>) -> Range<usize> {
        match &self.origin {
            None => r,
            Some(_) if r.is_empty() => 0..0,
            Some(origin) => origin[r.start].start..origin[r.end - 1].end,
        }
    }
}

/// Every match of `re` in `text`, each search starting where the previous match's `value` group
/// ended: the character a pattern takes as the boundary after one value ("MD12345678とMD87654321",
/// "MD12345678、MD87654321") can be the boundary before the next, which `captures_iter` would have
/// consumed.
fn captures_all<'h>(re: &Regex, text: &'h str) -> Vec<Captures<'h>> {
    let mut all = Vec::new();
    let mut at = 0;
    while at <= text.len() {
        let Some(caps) = re.captures_at(text, at) else {
            break;
        };
        let whole = caps.get(0).expect("group 0 always exists");
        let value_end = caps.name("value").map_or(whole.end(), |v| v.end());
        at = if value_end > at {
            value_end
        } else if whole.end() > at {
            whole.end()
        } else {
            at + text[at..].chars().next().map_or(1, char::len_utf8)
        };
        all.push(caps);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, patterns: &[&str], normalize: &[TextStep]) -> EntitySpec {
        EntitySpec {
            name: name.into(),
            normalize: normalize.to_vec(),
            patterns: patterns
                .iter()
                .map(|p| PatternSpec::Regex((*p).into()))
                .collect(),
            when_asked: Vec::new(),
            attempted: Vec::new(),
            clean: Vec::new(),
            facet: false,
            replaces: Vec::new(),
        }
    }

    #[test]
    fn a_facet_supersedes_itself_and_the_facets_it_replaces_only() {
        let method = EntitySpec {
            facet: true,
            replaces: vec!["unsupported".into()],
            ..spec("method", &["bank"], &[])
        };
        let unsupported = EntitySpec {
            facet: true,
            ..spec("unsupported", &["paypal"], &[])
        };
        let x = EntityExtractor::new(&[method, unsupported], Path::new("_entities.yaml"))
            .expect("valid");
        assert!(x.supersedes("method", "method"));
        assert!(x.supersedes("method", "unsupported"));
        assert!(
            !x.supersedes("unsupported", "method"),
            "not both ways unless written"
        );
        assert!(!x.supersedes("asks", "method"));
    }

    #[test]
    fn when_asked_patterns_count_only_in_the_reply_to_that_question() {
        let order = EntitySpec {
            when_asked: vec![PatternSpec::Regex("(?P<value>\\d{8})".into())],
            ..spec("order_id", &["MD\\d{8}"], &[])
        };
        let phone = spec("phone", &["\\d{3}-\\d{4}"], &[]);
        let x = EntityExtractor::new(&[order, phone], Path::new("_entities.yaml")).unwrap();
        assert_eq!(x.extract("it is 12345678").get("order_id"), None);
        assert_eq!(
            x.extract_reply("it is 12345678", Some("phone"))
                .get("order_id"),
            None
        );
        let e = x.extract_reply("it is 12345678", Some("order_id"));
        assert_eq!(e.get("order_id"), Some("12345678"));
        assert_eq!(e.extra_chars(), "itis".len());
        // The usual patterns still come first.
        let e = x.extract_reply("MD87654321, not 12345678", Some("order_id"));
        assert_eq!(e.found[0].value, "MD87654321");
    }

    #[test]
    fn an_attempt_counts_only_where_no_value_of_its_entity_was_found() {
        let order = EntitySpec {
            attempted: vec!["MD[0-9-]+".into()],
            ..spec("order_id", &["MD[0-9]{8}"], &[TextStep::Upper])
        };
        let x = EntityExtractor::new(&[order], Path::new("_entities.yaml")).expect("valid");
        let tried = x.extract("it's md-2026-11 thanks");
        assert_eq!(tried.get("order_id"), None);
        assert_eq!(tried.attempts.len(), 1);
        assert_eq!(tried.attempts[0].value, "md-2026-11", "the text as written");
        assert!(!tried.residual_of_attempts().contains("md"));
        assert!(tried.residual().contains("md-2026-11"));
        // A valid value is no attempt, nor is a bad one beside it (the entity was given).
        let given = x.extract("MD12345678, not MD-99");
        assert_eq!(given.get("order_id"), Some("MD12345678"));
        assert!(given.attempts.is_empty());
        assert!(x.extract("nothing here").attempts.is_empty());
    }

    #[test]
    fn values_side_by_side_share_the_boundary_between_them() {
        // The catalog's shape: a boundary character before and after the value group.
        let order = spec(
            "order_id",
            &["(?:^|[^A-Z0-9])(?P<value>MD\\d{8})(?:$|[^0-9])"],
            &[TextStep::Upper],
        );
        let x = EntityExtractor::new(&[order], Path::new("_entities.yaml")).expect("valid");
        for text in [
            "MD12345678とMD87654321です",
            "MD12345678、MD87654321",
            "cancel MD12345678 and MD87654321",
            "MD12345678,MD87654321",
        ] {
            let found = x.extract(text).found;
            let values: Vec<&str> = found.iter().map(|f| f.value.as_str()).collect();
            assert_eq!(values, ["MD12345678", "MD87654321"], "{text}");
        }
    }

    #[test]
    fn facets_claim_no_text_and_keep_their_first_match() {
        let asks = EntitySpec {
            facet: true,
            ..spec("asks", &["how much", "(?P<value>when)"], &[TextStep::Lower])
        };
        let order = spec("order_id", &["MD[0-9]{4}", "how much"], &[TextStep::Upper]);
        let x = EntityExtractor::new(&[asks, order], Path::new("_entities.yaml")).expect("valid");
        let found = x.extract("When is MD1234 due, how much?");
        assert_eq!(found.facets.len(), 1);
        assert_eq!(
            found.facets[0].value, "how much",
            "first pattern wins, not first position"
        );
        assert_eq!(found.get("order_id"), Some("MD1234"));
        assert_eq!(found.get("asks"), None, "facets are not entities");
        assert!(found.residual().contains("how much") || found.residual().contains("HOW MUCH"));
    }

    #[test]
    fn spans_map_back_through_stripped_characters() {
        let x = EntityExtractor::new(
            &[spec(
                "code",
                &["(?P<value>AB\\d{4})"],
                &[TextStep::Upper, TextStep::StripHyphens],
            )],
            Path::new("_entities.yaml"),
        )
        .unwrap();
        let e = x.extract("番号はab-12-34です");
        assert_eq!(e.get("code"), Some("AB1234"));
        assert_eq!(&e.text[e.found[0].span.clone()], "ab-12-34");
        assert_eq!(e.extra_chars(), "番号はです".chars().count());
    }

    #[test]
    fn earlier_entities_claim_text_first_and_values_are_listed_once() {
        let x = EntityExtractor::new(
            &[
                spec("long", &["\\d{6}"], &[]),
                spec("short", &["\\d{3}"], &[]),
            ],
            Path::new("_entities.yaml"),
        )
        .unwrap();
        let e = x.extract("123456 123456 789");
        let values: Vec<(&str, &str)> = e
            .found
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(values, [("long", "123456"), ("short", "789")]);
        assert_eq!(e.extra_chars(), 0);
    }

    #[test]
    fn bad_regexes_are_reported_with_the_entity() {
        let Err(problems) =
            EntityExtractor::new(&[spec("x", &["("], &[])], Path::new("_entities.yaml"))
        else {
            panic!("expected an error")
        };
        assert!(
            problems[0].message.contains("entity x: pattern 1"),
            "{problems:?}"
        );
    }
}
