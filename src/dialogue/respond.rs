//! Rendering: one minijinja environment, built once at startup from the catalog's intent templates
//! and follow-ups and the lines of `_dialogue.yaml`.
//!
//! Undefined variables are errors when printed (minijinja's `SemiStrict`: printing, iterating or
//! filtering an undefined value fails, while `{% if customer_name %}` guards still work). Every template
//! is compiled and rendered at startup with the variables it may get — required ones present, optional
//! ones absent, then each present — so a template that could print a hole is a startup error naming
//! its file, never a blank or a raw `{{ }}` in front of a customer.
use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, Template, UndefinedBehavior, Value};

use super::config::{DialogueConfig, LocaleText, OTHER_ORDER_IDS};
use super::error::DialogueError;
use super::state::DialogueState;
use super::types::CustomerMetadata;
use crate::catalog::{Catalog, Problem};
use crate::domain::Locale;

/// Variables of one render.
pub type Vars = BTreeMap<String, Value>;

/// One of the bot's own lines in `_dialogue.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Rephrase,
    Clarify,
    Choose,
    OutOfScope,
    OutsideHours,
    HandoffExplicitRequest,
    HandoffLowConfidence,
    HandoffOutOfScope,
    HandoffDetailMissing,
    OfferPerson,
    HandoffFrustration,
    HandoffUnresolved,
    HandoffReferred,
    NextOpen,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    List,
    Map,
    Number,
}

/// A variable a template may get.
#[derive(Debug, Clone, Copy)]
struct Var<'a> {
    name: &'a str,
    required: bool,
    kind: Kind,
}

const fn req(name: &'static str, kind: Kind) -> Var<'static> {
    Var {
        name,
        required: true,
        kind,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Var<'static> {
    Var {
        name,
        required: false,
        kind,
    }
}

const CUSTOMER_ONLY: &[Var<'static>] = &[opt("customer_name", Kind::Text)];

/// What the summary template can use.
pub const SUMMARY_VARIABLES: &[&str] = &[
    "customer_name",
    "customer_email",
    "customer_id",
    "order_id",
    "topic",
    "handoff_intent",
    "answered",
    "intents",
    "entities",
    "reason",
    "sentiment",
    "first_message",
    "last_message",
    "turns",
    "locale",
];

const SUMMARY: &[Var<'static>] = &[
    opt("customer_name", Kind::Text),
    opt("customer_email", Kind::Text),
    opt("customer_id", Kind::Text),
    opt("order_id", Kind::Text),
    opt("topic", Kind::Text),
    opt("handoff_intent", Kind::Text),
    req("answered", Kind::List),
    req("intents", Kind::List),
    req("entities", Kind::Map),
    req("reason", Kind::Text),
    req("sentiment", Kind::Text),
    req("first_message", Kind::Text),
    req("last_message", Kind::Text),
    req("turns", Kind::Number),
    req("locale", Kind::Text),
];

const NEXT_OPEN: &[Var<'static>] = &[
    req("month", Kind::Number),
    req("day", Kind::Number),
    req("weekday", Kind::Text),
    req("time", Kind::Text),
    req("hour", Kind::Text),
    req("minute", Kind::Text),
    req("date", Kind::Text),
    req("days_from_now", Kind::Number),
];

impl Line {
    pub const ALL: [Line; 15] = [
        Line::Rephrase,
        Line::Clarify,
        Line::Choose,
        Line::OutOfScope,
        Line::OutsideHours,
        Line::HandoffExplicitRequest,
        Line::HandoffLowConfidence,
        Line::HandoffOutOfScope,
        Line::HandoffDetailMissing,
        Line::OfferPerson,
        Line::HandoffFrustration,
        Line::HandoffUnresolved,
        Line::HandoffReferred,
        Line::NextOpen,
        Line::Summary,
    ];

    /// Where it is in `locales.<code>` of `_dialogue.yaml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Rephrase => "lines.rephrase",
            Self::Clarify => "lines.clarify",
            Self::Choose => "lines.choose",
            Self::OutOfScope => "lines.out_of_scope",
            Self::OutsideHours => "lines.outside_hours",
            Self::HandoffExplicitRequest => "lines.handoff.explicit_request",
            Self::HandoffLowConfidence => "lines.handoff.low_confidence",
            Self::HandoffOutOfScope => "lines.handoff.out_of_scope",
            Self::HandoffDetailMissing => "lines.handoff.detail_missing",
            Self::OfferPerson => "lines.offer_person",
            Self::HandoffFrustration => "lines.handoff.frustration",
            Self::HandoffUnresolved => "lines.handoff.unresolved",
            Self::HandoffReferred => "lines.handoff.referred",
            Self::NextOpen => "next_open",
            Self::Summary => "summary.text",
        }
    }

    fn source(self, t: &LocaleText) -> &str {
        match self {
            Self::Rephrase => &t.lines.rephrase,
            Self::Clarify => &t.lines.clarify,
            Self::Choose => &t.lines.choose,
            Self::OutOfScope => &t.lines.out_of_scope,
            Self::OutsideHours => &t.lines.outside_hours,
            Self::HandoffExplicitRequest => &t.lines.handoff.explicit_request,
            Self::HandoffLowConfidence => &t.lines.handoff.low_confidence,
            Self::HandoffOutOfScope => &t.lines.handoff.out_of_scope,
            Self::HandoffDetailMissing => &t.lines.handoff.detail_missing,
            Self::OfferPerson => &t.lines.offer_person,
            Self::HandoffFrustration => &t.lines.handoff.frustration,
            Self::HandoffUnresolved => &t.lines.handoff.unresolved,
            Self::HandoffReferred => &t.lines.handoff.referred,
            Self::NextOpen => &t.next_open,
            Self::Summary => &t.summary.text,
        }
    }

    fn variables(self) -> &'static [Var<'static>] {
        // The order number, once known: a reply that gave it is not met with the same words.
        const CLARIFY: &[Var<'static>] = &[
            req("a", Kind::Text),
            req("b", Kind::Text),
            opt("order_id", Kind::Text),
            opt("customer_name", Kind::Text),
        ];
        const OUT_OF_SCOPE: &[Var<'static>] =
            &[req("topics", Kind::List), opt("customer_name", Kind::Text)];
        const OUTSIDE_HOURS: &[Var<'static>] = &[
            req("next_open", Kind::Text),
            opt("customer_name", Kind::Text),
        ];
        const CHOOSE: &[Var<'static>] =
            &[req("options", Kind::List), opt("customer_name", Kind::Text)];
        // The classifier's guesses, when it had any worth offering.
        const REPHRASE: &[Var<'static>] =
            &[opt("options", Kind::List), opt("customer_name", Kind::Text)];
        // The detail the customer sent for a person to check.
        const REFERRED: &[Var<'static>] = &[
            opt("order_id", Kind::Text),
            opt("coupon_code", Kind::Text),
            opt("customer_name", Kind::Text),
        ];
        match self {
            Self::Rephrase => REPHRASE,
            Self::Clarify => CLARIFY,
            Self::Choose => CHOOSE,
            Self::OutOfScope => OUT_OF_SCOPE,
            Self::OutsideHours => OUTSIDE_HOURS,
            Self::NextOpen => NEXT_OPEN,
            Self::Summary => SUMMARY,
            Self::HandoffReferred => REFERRED,
            _ => CUSTOMER_ONLY,
        }
    }
}

/// The compiled templates.
pub struct Responder {
    env: Environment<'static>,
    /// (intent, locale) → number of variations.
    variations: BTreeMap<(String, String), usize>,
}

fn intent_template(intent: &str, locale: &str, i: usize) -> String {
    format!("intent/{intent}/{locale}/{i}")
}

fn follow_up_template(intent: &str, locale: &str) -> String {
    format!("intent/{intent}/{locale}/follow_up")
}

fn line_template(locale: &str, line: Line) -> String {
    format!("line/{locale}/{}", line.key())
}

impl Responder {
    /// Compiles and test-renders every template; all problems are reported together.
    pub fn new(catalog: &Catalog, config: &DialogueConfig) -> Result<Self, DialogueError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let mut problems = Vec::new();
        let mut variations = BTreeMap::new();

        for intent in &catalog.intents {
            let name = intent.name.as_str();
            let vars: Vec<Var<'_>> = intent
                .variables
                .iter()
                .map(|(v, spec)| Var {
                    name: v.as_str(),
                    // A required variable that may be waived must be guarded like an optional one.
                    required: spec.always_required(),
                    kind: Kind::Text,
                })
                .collect();
            for (locale, list) in &intent.templates {
                variations.insert((name.to_string(), locale.clone()), list.len());
                for (i, source) in list.iter().enumerate() {
                    let place = format!("templates.{locale}[{i}]");
                    let tname = intent_template(name, locale, i);
                    add(
                        &mut env,
                        &tname,
                        source,
                        &intent.source,
                        &place,
                        &vars,
                        &mut problems,
                    );
                }
            }
            for (locale, source) in &intent.follow_up {
                let place = format!("follow_up.{locale}");
                let tname = follow_up_template(name, locale);
                add(
                    &mut env,
                    &tname,
                    source,
                    &intent.source,
                    &place,
                    &vars,
                    &mut problems,
                );
            }
        }
        for (code, text) in &config.locales {
            for line in Line::ALL {
                let place = format!("locales.{code}.{}", line.key());
                let tname = line_template(code.as_str(), line);
                add(
                    &mut env,
                    &tname,
                    line.source(text),
                    &config.source,
                    &place,
                    line.variables(),
                    &mut problems,
                );
            }
        }
        if problems.is_empty() {
            Ok(Self { env, variations })
        } else {
            Err(DialogueError::Invalid(problems))
        }
    }

    /// How many variations `intent` has in `locale`.
    pub fn variations(&self, intent: &str, locale: &Locale) -> usize {
        self.variations
            .get(&(intent.to_string(), locale.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Variation `i` of `intent` in `locale`.
    pub fn intent(
        &self,
        intent: &str,
        locale: &Locale,
        i: usize,
        vars: &Vars,
    ) -> Result<String, minijinja::Error> {
        self.render(&intent_template(intent, locale.as_str(), i), vars)
    }

    /// The follow-up question of `intent`, when it has one in `locale`.
    pub fn follow_up(
        &self,
        intent: &str,
        locale: &Locale,
        vars: &Vars,
    ) -> Option<Result<String, minijinja::Error>> {
        let name = follow_up_template(intent, locale.as_str());
        self.env.get_template(&name).ok()?;
        Some(self.render(&name, vars))
    }

    /// One of the bot's lines.
    pub fn line(
        &self,
        locale: &Locale,
        line: Line,
        vars: &Vars,
    ) -> Result<String, minijinja::Error> {
        self.render(&line_template(locale.as_str(), line), vars)
    }

    fn render(&self, name: &str, vars: &Vars) -> Result<String, minijinja::Error> {
        let out = self.env.get_template(name)?.render(vars)?;
        Ok(out.trim().to_string())
    }
}

/// Compiles `source` as `name`, checks it only uses `vars`, and test-renders it.
fn add(
    env: &mut Environment<'static>,
    name: &str,
    source: &str,
    path: &Path,
    place: &str,
    vars: &[Var<'_>],
    problems: &mut Vec<Problem>,
) {
    if let Err(e) = env.add_template_owned(name.to_string(), source.to_string()) {
        problems.push(Problem::new(
            path,
            None,
            format!("{place} is not a valid template: {e}"),
        ));
        return;
    }
    let tmpl = env
        .get_template(name)
        .expect("a template just added is there; this is a bug");
    if let Some(what) = undeclared(&tmpl, vars).or_else(|| failed_render(&tmpl, vars)) {
        problems.push(Problem::new(path, None, format!("{place} {what}")));
    }
}

/// What is wrong when the template uses a variable it never gets.
fn undeclared(tmpl: &Template<'_, '_>, vars: &[Var<'_>]) -> Option<String> {
    let allowed: Vec<&str> = vars.iter().map(|v| v.name).collect();
    let mut unknown: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !allowed.contains(&v.as_str()))
        .collect();
    unknown.sort();
    (!unknown.is_empty()).then(|| {
        format!(
            "uses {}, which it never gets (it can use: {})",
            unknown.join(", "),
            allowed.join(", ")
        )
    })
}

/// What is wrong when the template fails to render without its optional variables, with all of
/// them, or (when there are several) with each one alone.
fn failed_render(tmpl: &Template<'_, '_>, vars: &[Var<'_>]) -> Option<String> {
    let optional: Vec<&Var<'_>> = vars.iter().filter(|v| !v.required).collect();
    let mut probes: Vec<(String, Vec<&Var<'_>>)> = vec![
        ("without its optional variables".into(), Vec::new()),
        ("with every variable".into(), optional.clone()),
    ];
    if optional.len() > 1 {
        for v in &optional {
            probes.push((
                format!("with only {} of the optional ones", v.name),
                vec![*v],
            ));
        }
    }
    probes.into_iter().find_map(|(when, present)| {
        let given = |v: &Var<'_>| present.iter().any(|p| p.name == v.name);
        let ctx: Vars = vars
            .iter()
            .filter(|v| v.required || given(v))
            .map(|v| (v.name.to_string(), sample(v.kind)))
            .collect();
        let e = tmpl.render(&ctx).err()?;
        let missing: Vec<&str> = optional
            .iter()
            .filter(|v| !given(v))
            .map(|v| v.name)
            .collect();
        let hint = if missing.is_empty() {
            String::new()
        } else {
            format!(
                " (optional variables may be missing: guard them with {{% if … %}}; missing here: {})",
                missing.join(", ")
            )
        };
        Some(format!("fails to render {when}: {e}{hint}"))
    })
}

fn sample(kind: Kind) -> Value {
    match kind {
        Kind::Text => Value::from("x"),
        Kind::Number => Value::from(1),
        Kind::List => Value::from(vec![Value::from("x"), Value::from("y")]),
        Kind::Map => Value::from_serialize(BTreeMap::from([("order_id", "MD00000000")])),
    }
}

/// Template variables: customer metadata (`customer_name`, `customer_email`, `customer_id`, and
/// `order_id` when exactly one order is given), then the entities of the conversation, which win.
pub(crate) fn template_vars(customer: &CustomerMetadata, state: &DialogueState) -> Vars {
    let mut vars = Vars::new();
    let text = |key: &str| match customer.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    for (key, var) in [
        ("name", "customer_name"),
        ("email", "customer_email"),
        ("id", "customer_id"),
    ] {
        if let Some(v) = text(key) {
            vars.insert(var.into(), Value::from(v));
        }
    }
    if let Some(serde_json::Value::Array(ids)) = customer.get("order_ids") {
        if let [serde_json::Value::String(id)] = ids.as_slice() {
            if !id.trim().is_empty() {
                vars.insert("order_id".into(), Value::from(id.trim()));
            }
        }
    }
    for (name, values) in &state.entities {
        if let Some(v) = values.last() {
            vars.insert(name.clone(), Value::from(v.value.clone()));
        }
    }
    if let Some(others) = other_order_ids(state) {
        vars.insert(OTHER_ORDER_IDS.into(), Value::from(others));
    }
    vars
}

/// The order numbers of the latest message that gave one, but the last of them, joined by ", ".
fn other_order_ids(state: &DialogueState) -> Option<String> {
    let values = state.entities.get("order_id")?;
    let last = values.last()?;
    let others: Vec<&str> = values
        .iter()
        .filter(|v| v.turn == last.turn && v.value != last.value)
        .map(|v| v.value.as_str())
        .collect();
    (!others.is_empty()).then(|| others.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(source: &str, vars: &[Var<'static>]) -> Vec<Problem> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let mut problems = Vec::new();
        add(
            &mut env,
            "t",
            source,
            Path::new("x.yaml"),
            "templates.ja[0]",
            vars,
            &mut problems,
        );
        problems
    }

    #[test]
    fn guarded_optional_variables_pass() {
        let vars = [
            opt("customer_name", Kind::Text),
            req("order_id", Kind::Text),
        ];
        let ok = "{% if customer_name %}{{ customer_name }}様、{% endif %}{{ order_id }}";
        assert!(probe(ok, &vars).is_empty());
    }

    #[test]
    fn an_unguarded_optional_variable_is_a_startup_error() {
        let vars = [opt("customer_name", Kind::Text)];
        let problems = probe("{{ customer_name }}様", &vars);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .message
                .contains("without its optional variables"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_reported() {
        let problems = probe("{{ nope }}", &[opt("customer_name", Kind::Text)]);
        assert!(problems[0].message.contains("uses nope"), "{}", problems[0]);
        let problems = probe("{% if %}", &[]);
        assert!(problems[0].message.contains("not a valid template"));
    }
}
