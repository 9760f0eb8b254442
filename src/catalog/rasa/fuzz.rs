//! Fuzz target `rasa_import` (test code; the harness is [`crate::fuzz`]): Rasa `nlu.yml` and
//! `domain.yml` texts built from the shipped training data and templates, mutated, through the
//! import's own steps. Properties: no panic; every imported name is a valid intent name; the
//! training file the import writes reads back as exactly the examples it wrote; the intent file
//! it writes reads back unchanged and its templates compile, print each Rasa variable and keep the
//! response text verbatim. One input in 50 also runs the whole file-based import into a temporary
//! catalog.
use std::collections::BTreeMap;

use super::*;
use crate::fuzz::{repo, run, yaml_texts, Gen};

/// A Rasa project made of the shipped catalog: `(nlu.yml, domain.yml)`.
fn seeds() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for locale in ["en", "ja"] {
        let dir = repo().join("training-data").join(locale);
        let mut nlu = String::from("version: \"3.1\"\nnlu:\n");
        for (i, text) in yaml_texts(&dir).iter().enumerate() {
            let items: Vec<String> = serde_norway::from_str(text).unwrap_or_default();
            nlu.push_str(&format!("- intent: Intent-{i}\n  examples: |\n"));
            for item in items.iter().step_by(9) {
                let item = item.replacen("MD", "[MD](order_id)", 1);
                nlu.push_str(&format!("    - {item}\n"));
            }
        }
        nlu.push_str("- synonym: credit\n  examples: |\n    - credit card\n");
        nlu.push_str("- regex: order\n  examples: |\n    - MD\\d{8}\n");
        let mut domain = String::from("responses:\n");
        for (i, text) in yaml_texts(&repo().join("intents")).iter().enumerate() {
            let Ok(intent) = serde_norway::from_str::<Intent>(text) else {
                continue;
            };
            domain.push_str(&format!("  utter_Intent-{i}:\n"));
            for t in intent.templates.get(locale).into_iter().flatten().take(2) {
                // Rasa responses are plain text with `{variables}`.
                let t = t
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("{%"))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace("{{ order_id }}", "{order_id}")
                    .replace("{{ customer_name }}", "{customer_name}");
                let quoted = serde_json::to_string(&t).unwrap_or_default();
                domain.push_str(&format!("  - text: {quoted}\n"));
            }
        }
        out.push((nlu, domain));
    }
    out
}

fn check_names_and_examples(nlu: &NluFile) {
    for item in &nlu.nlu {
        let (Some(name), Some(examples)) = (&item.intent, &item.examples) else {
            continue;
        };
        let snake = snake_case(name);
        if snake != OUT_OF_SCOPE {
            IntentName::try_from(snake.clone())
                .unwrap_or_else(|e| panic!("{name:?} became an invalid name: {e}"));
        }
        let items: Vec<String> = examples
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('-'))
            .map(|l| strip_entities(l.trim()))
            .filter(|l| !l.is_empty())
            .collect();
        // What `merge_examples` writes must read back as the same list.
        let body = serde_norway::to_string(&items).expect("a list of strings serialises");
        let text = format!("# {snake} (en), imported from Rasa\n{body}");
        let back = crate::catalog::training::parse_items(&text)
            .unwrap_or_else(|e| panic!("written training file does not parse: {e}\n{text}"));
        let back: Vec<Option<String>> = back.into_iter().map(|(t, _)| t).collect();
        let wanted: Vec<Option<String>> = items.into_iter().map(Some).collect();
        assert_eq!(back, wanted, "written:\n{text}");
    }
}

fn check_templates_of(domain: &DomainFile) {
    for (name, responses) in &domain.responses {
        let mut variables = BTreeMap::new();
        let templates: Vec<String> = responses
            .iter()
            .filter_map(|r| r.text.clone())
            .map(|t| convert_rasa_variables(&t, &mut variables))
            .collect();
        let intent = Intent {
            name: IntentName::try_from("imported".to_string()).expect("valid"),
            description: format!("from {name}"),
            handoff: HandoffMode::Auto,
            answered_when: Default::default(),
            threshold: None,
            variables: variables.clone(),
            follow_up: BTreeMap::new(),
            templates: BTreeMap::from([("en".to_string(), templates.clone())]),
            source: PathBuf::new(),
        };
        let written = serde_norway::to_string(&intent).expect("an intent serialises");
        let back: Intent = serde_norway::from_str(&written)
            .unwrap_or_else(|e| panic!("written intent does not parse: {e}\n{written}"));
        assert_eq!(back, intent, "written:\n{written}");
        let problems = crate::catalog::check_templates(&intent);
        assert!(problems.is_empty(), "{problems:?}\n{templates:?}");
        for (response, template) in responses
            .iter()
            .filter_map(|r| r.text.as_ref())
            .zip(&templates)
        {
            check_verbatim(response, template, &variables);
        }
    }
}

/// The converted template, rendered with each variable `v` set to `{v}`, gives the Rasa text back.
fn check_verbatim(response: &str, template: &str, variables: &BTreeMap<String, VariableSpec>) {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let ctx: BTreeMap<String, String> = variables
        .keys()
        .map(|v| (v.clone(), format!("{{{v}}}")))
        .collect();
    let rendered = env
        .render_str(template, &ctx)
        .unwrap_or_else(|e| panic!("{template:?} does not render: {e}"));
    // The responder trims what it renders.
    assert_eq!(
        rendered.trim(),
        response.trim(),
        "the template {template:?} changes the response"
    );
}

#[test]
fn fuzz_rasa_import() {
    let seeds = seeds();
    let texts: Vec<String> = seeds
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut count = 0u64;
    run(
        "rasa_import",
        |g: &mut Gen| {
            let (nlu, domain) = g.pick(&seeds).clone();
            let (nlu, domain) = if g.chance(0.5) {
                (g.mutate_text(&nlu, &texts, 60_000), domain)
            } else {
                (nlu, g.mutate_text(&domain, &texts, 60_000))
            };
            format!("{nlu}\u{1}{domain}")
        },
        |input: &String| {
            let (nlu, domain) = input.split_once('\u{1}').unwrap_or((input, ""));
            if let Ok(parsed) = serde_norway::from_str::<NluFile>(nlu) {
                check_names_and_examples(&parsed);
            }
            if let Ok(parsed) = serde_norway::from_str::<DomainFile>(domain) {
                check_templates_of(&parsed);
            }
            count += 1;
            if count.is_multiple_of(50) {
                whole_import(scratch.path(), nlu, domain);
            }
        },
    );
}

/// The real, file-based import into an empty catalog: an error is fine, a panic is not.
fn whole_import(scratch: &Path, nlu: &str, domain: &str) {
    let dir = scratch.join("project");
    let _ = std::fs::remove_dir_all(&dir);
    let intents = dir.join("intents");
    let training = dir.join("training-data");
    std::fs::create_dir_all(&intents).expect("mkdir");
    let (nlu_path, domain_path) = (dir.join("nlu.yml"), dir.join("domain.yml"));
    std::fs::write(&nlu_path, nlu).expect("write");
    std::fs::write(&domain_path, domain).expect("write");
    let _ = import(&nlu_path, Some(&domain_path), "en", &intents, &training);
}
