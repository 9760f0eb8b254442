//! Entity extraction: real customer messages, mutated, through the real `_entities.yaml`
//! extractor; and mutated entity definitions (one entity of `_entities.yaml` at a time) compiled
//! and run. Properties: no panic; every span and claimed range lies on char boundaries of the NFKC
//! text; claimed ranges never overlap; values are non-empty; the residual keeps the length. The
//! same messages split into sentences (`context` of `_dialogue.yaml`): none or two to three, each
//! a part of the message.
use std::path::Path;

use super::{real_messages, repo, run, Gen};
use crate::dialogue::{parse_entities, Context, DialogueConfig, EntityExtractor, Extraction};

fn real_extractor() -> EntityExtractor {
    let config = DialogueConfig::load(&repo().join("intents")).expect("the shipped _dialogue.yaml");
    EntityExtractor::new(&config.entities, &config.entities_source)
        .expect("the shipped _entities.yaml")
}

fn check_extraction(e: &Extraction) {
    for f in &e.found {
        assert!(!f.value.is_empty(), "empty value for {}", f.name);
        assert!(
            e.text.get(f.span.clone()).is_some(),
            "span {:?} of {} is not on char boundaries of {:?}",
            f.span,
            f.name,
            e.text
        );
    }
    for f in &e.facets {
        assert!(
            e.text.get(f.span.clone()).is_some(),
            "facet span {:?}",
            f.span
        );
    }
    for (i, a) in e.claimed.iter().enumerate() {
        assert!(
            e.text.get(a.clone()).is_some(),
            "claim {a:?} off boundaries"
        );
        for b in &e.claimed[i + 1..] {
            assert!(
                a.end <= b.start || b.end <= a.start,
                "claims {a:?} and {b:?} overlap"
            );
        }
    }
    assert_eq!(e.residual().chars().count(), e.text.chars().count());
    let _ = e.extra_chars();
}

fn check_sentences(context: &Context, text: &str) {
    let sentences = context.sentences(text);
    assert!(
        sentences.is_empty() || (2..=3).contains(&sentences.len()),
        "{sentences:?}"
    );
    for sentence in sentences {
        assert!(
            !sentence.is_empty() && text.contains(sentence),
            "{sentence:?} of {text:?}"
        );
    }
}

#[test]
fn fuzz_entity_extraction() {
    let extractor = real_extractor();
    let config = DialogueConfig::load(&repo().join("intents")).expect("the shipped _dialogue.yaml");
    let context = Context::new(&config.context);
    let messages = real_messages();
    run(
        "entities",
        |g: &mut Gen| {
            let seed = g.pick(&messages).clone();
            g.mutate_text(&seed, &messages, 8_000)
        },
        |text: &String| {
            check_extraction(&extractor.extract(text));
            check_sentences(&context, text);
        },
    );
}

/// Each entity block of the shipped `_entities.yaml` as a YAML text of its own.
fn entity_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("intents/_entities.yaml")).expect("read");
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts_entity = line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if starts_entity || blocks.is_empty() {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks.retain(|b| b.contains("patterns"));
    blocks
}

#[test]
fn fuzz_entity_definitions() {
    let blocks = entity_blocks();
    assert!(blocks.len() >= 4, "{blocks:?}");
    let messages = real_messages();
    let source = Path::new("_entities.yaml");
    run(
        "entity_definitions",
        |g: &mut Gen| {
            let block = g.pick(&blocks).clone();
            let spec = g.mutate_text(&block, &blocks, 4_000);
            let message = g.pick(&messages).clone();
            format!("{spec}\u{1}{message}")
        },
        |input: &String| {
            let (spec, message) = input.split_once('\u{1}').unwrap_or((input, ""));
            let Ok(specs) = parse_entities(spec) else {
                return;
            };
            if let Ok(extractor) = EntityExtractor::new(&specs, source) {
                check_extraction(&extractor.extract(message));
            }
        },
    );
}
