//! Fuzz targets for the catalog's YAML (test code; the harness is [`crate::fuzz`]).
//!
//! - `catalog_yaml`: mutated intent files, `_catalog.yaml` and `_dialogue.yaml` through the same
//!   parsing and validation as `Catalog::load` (templates compiled included); an intent that loads
//!   must survive the studio's write-back (serialise, parse) unchanged.
//! - `training_yaml`: mutated training files through the training loader's item parser.
//! - `training_writer`: hostile utterances appended the way the studio appends them; the file must
//!   read back with exactly that utterance (never a broken or changed training file).
use std::path::Path;

use super::load::{parse_intent, parse_settings};
use super::training::parse_items;
use super::writer::{item_line, one_line};
use crate::dialogue::DialogueConfig;
use crate::domain::Locale;
use crate::fuzz::{real_messages, repo, run, yaml_texts, Gen};

fn locales() -> Vec<Locale> {
    ["ja", "en"]
        .into_iter()
        .map(|c| Locale::parse(c).expect("a valid code"))
        .collect()
}

const SETTINGS_SEED: &str = "# catalog settings\nlocales: [ja, en]\nmin_examples: 40\n";

#[test]
fn fuzz_catalog_yaml() {
    let mut seeds = yaml_texts(&repo().join("intents"));
    seeds.push(SETTINGS_SEED.to_string());
    assert!(seeds.len() > 10);
    let locales = locales();
    let path = Path::new("intents/fuzzed.yaml");
    run(
        "catalog_yaml",
        |g: &mut Gen| {
            let seed = g.pick(&seeds).clone();
            g.mutate_text(&seed, &seeds, 40_000)
        },
        |text: &String| {
            if text.contains("locales:") && text.contains("language:") {
                let _ = serde_norway::from_str::<DialogueConfig>(text);
                return;
            }
            let _ = parse_settings(text);
            let mut problems = Vec::new();
            let Some(intent) = parse_intent(text, path, "fuzzed", &locales, &mut problems) else {
                return;
            };
            if intent.threshold.is_some_and(f32::is_nan) {
                return;
            }
            // The studio writes intents back with serde_norway: nothing may change on the way.
            let written = serde_norway::to_string(&intent).expect("an intent serialises");
            let mut again = Vec::new();
            let reread = parse_intent(&written, path, "fuzzed", &locales, &mut again)
                .unwrap_or_else(|| panic!("written intent does not parse: {again:?}\n{written}"));
            assert_eq!(reread, intent, "written:\n{written}");
        },
    );
}

#[test]
fn fuzz_training_yaml() {
    let seeds = yaml_texts(&repo().join("training-data"));
    assert!(seeds.len() > 10);
    run(
        "training_yaml",
        |g: &mut Gen| {
            let seed = g.pick(&seeds).clone();
            g.mutate_text(&seed, &seeds, 40_000)
        },
        |text: &String| {
            if let Ok(items) = parse_items(text) {
                let lines = text.lines().count();
                for (_, line) in items {
                    assert!(line.is_none_or(|l| l >= 1 && l <= lines), "line {line:?}");
                }
            }
        },
    );
}

#[test]
fn fuzz_training_writer() {
    let messages = real_messages();
    let header = "# thanks (en): customer messages, one per line\n- thank you\n";
    run(
        "training_writer",
        |g: &mut Gen| {
            let seed = g.pick(&messages).clone();
            g.mutate_text(&seed, &messages, 2_000)
        },
        |text: &String| {
            let wanted = one_line(text);
            let content = format!("{header}{}\n", item_line(&wanted));
            let items = parse_items(&content)
                .unwrap_or_else(|e| panic!("the appended file no longer parses: {e}\n{content}"));
            let last = items.last().and_then(|(t, _)| t.clone());
            let expected = (!wanted.is_empty()).then_some(wanted.clone());
            assert_eq!(last.filter(|t| !t.is_empty()), expected, "{content}");
            assert_eq!(items.len(), 2, "{content}");
        },
    );
}
