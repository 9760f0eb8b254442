//! The one-question rule for templates: the variations of an intent differ in wording, never in
//! facts. `madoguchi validate` warns when two variations of one intent in one locale state different
//! numbers ("5,000", "9:00", "330") or names (Latin-script proper names such as PayPay, Visa,
//! "My Page", and Japanese 「…」 UI names).
//!
//! Templates are compared as the customer would read them: each variation is rendered for the same
//! scenarios — no optional variable, each value a condition compares a variable with (`asks ==
//! "cost"`, `payment_method in ("card", "paypay")`), and each pair of those — so text inside
//! `{% if %}` branches is compared branch by branch, whatever the nesting.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use minijinja::{Environment, Value};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::catalog::{Catalog, Intent, Problem};

/// The value given to a variable that is present without a value any condition looks for; it
/// states no number and no name.
const SAMPLE: &str = "x";

/// Warnings for every intent whose variations (in one locale) state different facts.
pub fn check_variations(catalog: &Catalog) -> Vec<Problem> {
    catalog.intents.iter().flat_map(check_intent).collect()
}

/// Warnings for one intent, one per locale and difference (the first scenario that shows it).
pub fn check_intent(intent: &Intent) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (locale, templates) in &intent.templates {
        if templates.len() < 2 {
            continue;
        }
        let mut seen = BTreeSet::new();
        for scenario in scenarios(intent, templates) {
            // A branch that only fails for some facet value would fail at run time, for a customer.
            let (key, message) = match render(templates, &scenario.vars) {
                Err(failure) => (failure.clone(), format!("{failure}{}", scenario.label)),
                Ok(texts) => {
                    let Some(difference) = difference(&texts) else {
                        continue;
                    };
                    let message = format!(
                        "the variations state different facts{}: {difference}",
                        scenario.label
                    );
                    (difference, message)
                }
            };
            if seen.insert(key) {
                warnings.push(Problem::new(
                    &intent.source,
                    None,
                    format!("templates.{locale}: {message}"),
                ));
            }
        }
    }
    warnings
}

/// Variables to render with, and how to name them in a warning.
struct Scenario {
    vars: BTreeMap<String, Value>,
    label: String,
}

/// No optional variable; each optional variable with each value it is compared with; each pair.
fn scenarios(intent: &Intent, templates: &[String]) -> Vec<Scenario> {
    let required: BTreeMap<String, Value> = intent
        .variables
        .iter()
        .filter(|(_, spec)| spec.always_required())
        .map(|(name, _)| (name.clone(), Value::from(SAMPLE)))
        .collect();
    let choices: Vec<(String, String)> = intent
        .variables
        .iter()
        .filter(|(_, spec)| !spec.always_required())
        .flat_map(|(name, _)| {
            compared_values(name, templates)
                .into_iter()
                .map(move |value| (name.clone(), value))
        })
        .collect();
    let scenario = |picked: &[&(String, String)]| {
        let mut vars = required.clone();
        let mut label = Vec::new();
        for (name, value) in picked {
            vars.insert(name.clone(), Value::from(value.as_str()));
            label.push(format!("{name} = {value:?}"));
        }
        Scenario {
            vars,
            label: if label.is_empty() {
                String::new()
            } else {
                format!(" (when {})", label.join(", "))
            },
        }
    };
    let mut all = vec![scenario(&[])];
    for (i, a) in choices.iter().enumerate() {
        all.push(scenario(&[a]));
        for b in choices[i + 1..].iter().filter(|b| b.0 != a.0) {
            all.push(scenario(&[a, b]));
        }
    }
    all
}

/// The string literals `name` is compared with in `templates` (`==`, `!=`, `in (…)`), plus
/// [`SAMPLE`] (present, but none of them).
fn compared_values(name: &str, templates: &[String]) -> BTreeSet<String> {
    let name = regex::escape(name);
    let equals =
        Regex::new(&format!(r#"\b{name}\s*[!=]=\s*["']([^"']*)["']"#)).expect("valid regex");
    let within = Regex::new(&format!(r"\b{name}\s+in\s*[(\[]([^)\]]*)[)\]]")).expect("valid regex");
    let mut values = BTreeSet::from([SAMPLE.to_string()]);
    for source in templates {
        values.extend(equals.captures_iter(source).map(|c| c[1].to_string()));
        for list in within.captures_iter(source) {
            values.extend(QUOTED.captures_iter(&list[1]).map(|c| c[1].to_string()));
        }
    }
    values
}

static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"["']([^"']*)["']"#).expect("valid regex"));

/// Every variation rendered with `vars`, or why the first that fails does.
fn render(templates: &[String], vars: &BTreeMap<String, Value>) -> Result<Vec<String>, String> {
    let env = Environment::new();
    templates
        .iter()
        .enumerate()
        .map(|(i, source)| {
            env.render_str(source, vars)
                .map_err(|e| format!("variation #{} fails to render: {e}", i + 1))
        })
        .collect()
}

/// What each rendered variation leaves out of what the others state, e.g. `#2 lacks 330,
/// "PayPay"`; `None` when they all state the same.
fn difference(texts: &[String]) -> Option<String> {
    let facts: Vec<(usize, BTreeSet<String>)> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| (i + 1, facts_of(text)))
        .collect();
    let union: BTreeSet<&String> = facts.iter().flat_map(|(_, f)| f).collect();
    let lacks: Vec<String> = facts
        .iter()
        .filter_map(|(n, f)| {
            let missing: Vec<&str> = union
                .iter()
                .filter(|fact| !f.contains(**fact))
                .map(|fact| fact.as_str())
                .collect();
            (!missing.is_empty()).then(|| format!("#{n} lacks {}", missing.join(", ")))
        })
        .collect();
    (!lacks.is_empty()).then(|| lacks.join("; "))
}

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d+(?:[,:.]\d+)*").expect("valid regex"));
static JA_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"「([^」]+)」").expect("valid regex"));
static WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*").expect("valid regex")
});

/// The numbers and names a text states: numbers as written (`5,000`), names quoted (`"My Page"`).
pub fn facts_of(text: &str) -> BTreeSet<String> {
    let text: String = text.nfkc().collect();
    let mut facts: BTreeSet<String> = NUMBER
        .find_iter(&text)
        .map(|m| m.as_str().to_string())
        .collect();
    facts.extend(
        JA_NAME
            .captures_iter(&text)
            .map(|c| format!("「{}」", &c[1])),
    );
    facts.extend(latin_names(&text).into_iter().map(|n| format!("{n:?}")));
    facts
}

/// Runs of capitalised Latin words ("American Express", "My Page", 'Shipped'); a single word at the
/// start of a sentence counts only when it is capitalised inside too (PayPay, JCB), and "I" never.
fn latin_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut run_end = 0;
    let mut run_starts_sentence = false;
    let flush = |run: &mut Vec<&str>, starts_sentence: bool, names: &mut Vec<String>| {
        // "A COD fee", "Under My Page": a capitalised function word only starts a sentence.
        let words = match run.as_slice() {
            [first, rest @ ..] if FUNCTION_WORDS.contains(first) => rest,
            all => all,
        };
        let keep = match words {
            [] => false,
            [one] => !starts_sentence || inner_capital(one),
            _ => true,
        };
        if keep {
            names.push(words.join(" "));
        }
        run.clear();
    };
    for word in WORD.find_iter(text) {
        let w = word.as_str();
        let capitalised = w.starts_with(|c: char| c.is_ascii_uppercase());
        let pronoun = w == "I" || w.starts_with("I'") || w.starts_with("I’");
        let adjacent = !run.is_empty() && &text[run_end..word.start()] == " ";
        if !adjacent {
            flush(&mut run, run_starts_sentence, &mut names);
        }
        if capitalised && !pronoun {
            if run.is_empty() {
                run_starts_sentence = starts_sentence(&text[..word.start()]);
            }
            run.push(w);
            run_end = word.end();
        } else {
            flush(&mut run, run_starts_sentence, &mut names);
        }
    }
    flush(&mut run, run_starts_sentence, &mut names);
    names
}

/// English words that are capitalised only at the start of a sentence (and so start no name).
const FUNCTION_WORDS: &[&str] = &[
    "A", "An", "The", "If", "For", "With", "When", "To", "Once", "Our", "Your", "This", "That",
    "Please", "You", "We", "It", "In", "On", "At", "As", "After", "Before", "Under", "From", "Via",
    "Each", "Every", "Any", "All", "Only", "Also", "And", "Or", "But", "So", "Then", "By",
];

fn inner_capital(word: &str) -> bool {
    word.chars().skip(1).any(|c| c.is_ascii_uppercase())
}

/// Whether a word after `before` begins a sentence (or the text, or a new line).
fn starts_sentence(before: &str) -> bool {
    let trimmed = before.trim_end_matches([' ', '\t']);
    trimmed.is_empty()
        || trimmed.ends_with(['.', '!', '?', ':', ';', '\n', '。', '！', '？'])
        || trimmed.ends_with(". \"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(yaml: &str) -> Intent {
        let mut intent: Intent = serde_norway::from_str(yaml).expect("intent yaml");
        intent.source = "intents/test.yaml".into();
        intent
    }

    fn warnings(templates_en: &str) -> Vec<String> {
        let yaml = format!(
            "name: test\ndescription: d\nvariables:\n  order_id: {{required: true, prompt: {{en: n?}}}}\n  asks: {{}}\n  customer_name: {{}}\ntemplates:\n  en:\n{templates_en}"
        );
        check_intent(&intent(&yaml))
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn numbers_and_names_are_the_facts_of_a_text() {
        let facts = facts_of("Shipping is 550 yen, free from 5,000 yen. Pay with PayPay or Visa on My Page > Order History; weekdays 9:00–18:00.");
        for fact in [
            "550",
            "5,000",
            "9:00",
            "18:00",
            "\"PayPay\"",
            "\"Visa\"",
            "\"My Page\"",
            "\"Order History\"",
        ] {
            assert!(facts.contains(fact), "{fact} missing from {facts:?}");
        }
        assert!(
            !facts
                .iter()
                .any(|f| f.contains("Shipping") || f.contains("Pay ")),
            "{facts:?}"
        );
        let ja =
            facts_of("マイページ「注文履歴」から、３日以内にお支払いください。PayPayも使えます。");
        for fact in ["「注文履歴」", "3", "\"PayPay\""] {
            assert!(ja.contains(fact), "{fact} missing from {ja:?}");
        }
        assert!(facts_of("Thank you. I'm sorry. Yes, please.").is_empty());
        let article = facts_of("A COD fee applies. Under My Page you see it.");
        assert!(
            article.contains("\"COD\"") && article.contains("\"My Page\""),
            "{article:?}"
        );
    }

    #[test]
    fn variations_that_differ_only_in_wording_pass() {
        let found = warnings(
            "    - \"{% if customer_name %}Thank you, {{ customer_name }}. {% endif %}Order {{ order_id }} ships in 1–3 days via My Page.\"\n    - \"It takes 1–3 days to ship order {{ order_id }}; see My Page.\"\n",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_variation_with_another_number_or_name_is_reported() {
        let found =
            warnings("    - \"The fee is 330 yen.\"\n    - \"The fee is 550 yen, see My Page.\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("#1 lacks")
                && found[0].contains("550")
                && found[0].contains("\"My Page\""),
            "{found:?}"
        );
        assert!(found[0].contains("#2 lacks 330"), "{found:?}");
    }

    #[test]
    fn a_branch_that_fails_to_render_for_one_value_is_reported() {
        // Renders without `asks`, and with any value but "cost": only that branch calls a method
        // minijinja's maps lack.
        let found = warnings(
            "    - \"{% if asks == 'cost' %}{{ {'a': 1}.get('a', 2) }} yen.{% else %}We take PayPay.{% endif %}\"\n    - \"{% if asks == 'cost' %}1 yen.{% else %}We take PayPay.{% endif %}\"\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("variation #1 fails to render")
                && found[0].contains("asks = \"cost\""),
            "{found:?}"
        );
    }

    #[test]
    fn branches_are_compared_branch_by_branch() {
        let same = warnings(
            "    - \"{% if asks == 'cost' %}COD costs 330 yen.{% else %}We take PayPay.{% endif %}\"\n    - \"{%- if asks in ('cost',) -%}A 330 yen COD fee applies.{%- else -%}PayPay is accepted.{%- endif %}\"\n",
        );
        assert!(same.is_empty(), "{same:?}");
        let swapped = warnings(
            "    - \"{% if asks == \\\"cost\\\" %}COD costs 330 yen.{% else %}We take PayPay.{% endif %}\"\n    - \"{% if asks == \\\"time\\\" %}COD costs 330 yen.{% else %}We take PayPay.{% endif %}\"\n",
        );
        assert!(
            swapped
                .iter()
                .any(|w| w.contains("asks = \"cost\"") && w.contains("#2 lacks \"COD\", 330")),
            "{swapped:?}"
        );
    }

    #[test]
    fn the_repository_intents_state_the_same_facts_in_every_variation() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("intents");
        let mut problems = Vec::new();
        let catalog = Catalog::load(&dir, &mut problems).expect("intents load");
        let found: Vec<String> = check_variations(&catalog)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
