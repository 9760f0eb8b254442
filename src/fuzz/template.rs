//! Template rendering with hostile variable values: every intent template and the bot's own text
//! lines of the shipped catalog, rendered with customer-supplied values (names, order numbers,
//! the two intents of a clarify question) that hold template syntax, NUL, bidi overrides,
//! combining runs and so on. Property: the render succeeds, and equals the render with harmless
//! placeholders with each placeholder replaced by its value — a value is printed verbatim, never
//! evaluated, escaped or cut.
use minijinja::Value;

use super::{real_messages, repo, run, Gen};
use crate::catalog::Catalog;
use crate::dialogue::{DialogueConfig, Line, Responder, Vars};
use crate::domain::Locale;

/// What to render: an intent variation, or one of the bot's lines with text variables only.
#[derive(Clone)]
enum Which {
    Intent(String, usize, Vec<String>),
    Line(Line, Vec<&'static str>),
}

/// Every intent variation with its printed variables (facets are left out: their values pick a
/// branch, they are never printed), and the bot's lines.
fn targets(
    catalog: &Catalog,
    responder: &Responder,
    locale: &Locale,
    facets: &[&str],
) -> Vec<Which> {
    let mut out = Vec::new();
    for intent in &catalog.intents {
        let mut vars: Vec<String> = intent
            .variables
            .keys()
            .filter(|v| !facets.contains(&v.as_str()))
            .cloned()
            .collect();
        vars.push("customer_name".into());
        vars.sort();
        vars.dedup();
        for i in 0..responder.variations(intent.name.as_str(), locale) {
            out.push(Which::Intent(intent.name.to_string(), i, vars.clone()));
        }
    }
    out.push(Which::Line(Line::Clarify, vec!["a", "b", "customer_name"]));
    out.push(Which::Line(
        Line::OutsideHours,
        vec!["next_open", "customer_name"],
    ));
    out.push(Which::Line(
        Line::HandoffReferred,
        vec!["order_id", "coupon_code", "customer_name"],
    ));
    for line in [
        Line::Rephrase,
        Line::HandoffExplicitRequest,
        Line::HandoffLowConfidence,
        Line::HandoffOutOfScope,
        Line::HandoffFrustration,
    ] {
        out.push(Which::Line(line, vec!["customer_name"]));
    }
    out
}

fn render(
    responder: &Responder,
    locale: &Locale,
    which: &Which,
    vars: &Vars,
) -> Result<String, minijinja::Error> {
    match which {
        Which::Intent(name, i, _) => responder.intent(name, locale, *i, vars),
        Which::Line(line, _) => responder.line(locale, *line, vars),
    }
}

fn names(which: &Which) -> Vec<String> {
    match which {
        Which::Intent(_, _, vars) => vars.clone(),
        Which::Line(_, vars) => vars.iter().map(|v| v.to_string()).collect(),
    }
}

#[test]
fn fuzz_template_rendering() {
    let intents = repo().join("intents");
    let mut problems = Vec::new();
    let catalog = Catalog::load(&intents, &mut problems).expect("the shipped catalog");
    let config = DialogueConfig::load(&intents).expect("the shipped _dialogue.yaml");
    let responder = Responder::new(&catalog, &config).expect("the shipped templates");
    let locales: Vec<Locale> = catalog.locales.clone();
    let facets: Vec<&str> = config
        .entities
        .iter()
        .filter(|e| e.facet)
        .map(|e| e.name.as_str())
        .collect();
    let all: Vec<(Locale, Which)> = locales
        .iter()
        .flat_map(|l| {
            targets(&catalog, &responder, l, &facets)
                .into_iter()
                .map(move |w| (l.clone(), w))
        })
        .collect();
    let messages = real_messages();
    run(
        "template_rendering",
        |g: &mut Gen| {
            // Input: target index, then one value per variable, separated by U+0001 (never in a value).
            let index = g.below(all.len());
            let mut input = index.to_string();
            for _ in names(&all[index].1) {
                let seed = g.pick(&messages).clone();
                let mut value = g.mutate_text(&seed, &messages, 3_000).replace('\u{1}', "");
                if value.is_empty() || g.chance(0.2) {
                    value = g.hostile_text(6).replace('\u{1}', "x");
                }
                input.push('\u{1}');
                input.push_str(&value);
            }
            input
        },
        |input: &String| {
            let mut parts = input.split('\u{1}');
            let index: usize = parts.next().and_then(|i| i.parse().ok()).unwrap_or(0);
            let (locale, which) = &all[index % all.len()];
            let values: Vec<&str> = parts.collect();
            let names = names(which);
            let mut hostile = Vars::new();
            let mut safe = Vars::new();
            for (i, name) in names.iter().enumerate() {
                let value = values.get(i).copied().unwrap_or("x");
                let value = if value.is_empty() { "x" } else { value };
                hostile.insert(name.clone(), Value::from(value));
                safe.insert(name.clone(), Value::from(placeholder(i)));
            }
            let expected =
                render(&responder, locale, which, &safe).expect("renders with placeholders");
            let got =
                render(&responder, locale, which, &hostile).expect("renders with hostile values");
            let mut wanted = expected.clone();
            for (i, name) in names.iter().enumerate() {
                let value = hostile.get(name).map(|v| v.to_string()).unwrap_or_default();
                wanted = wanted.replace(&placeholder(i), &value);
            }
            assert_eq!(got, wanted.trim(), "placeholders gave {expected:?}");
        },
    );
}

/// A value no template prints on its own: private-use brackets around the variable's number.
fn placeholder(i: usize) -> String {
    format!("\u{E000}{i}\u{E001}")
}
