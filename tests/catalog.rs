//! The catalog loader: the shipped catalog is valid, and each kind of mistake is reported with its
//! file (and line).
use std::path::Path;

use madoguchi::catalog::{self, CatalogError, HandoffMode};

use crate::util::{copy_catalog, repo};

const EXPECTED_INTENTS: [&str; 25] = [
    "business_hours",
    "cancel_order",
    "change_address",
    "change_order",
    "complaint",
    "coupons_points",
    "defective_product",
    "delete_account",
    "delivery_problem",
    "feedback",
    "goodbye",
    "greeting",
    "human_agent",
    "invoice_receipt",
    "order_status",
    "other_question",
    "password_reset",
    "payment_failed",
    "payment_methods",
    "refund_status",
    "return_request",
    "shipping_fees",
    "stock_availability",
    "thanks",
    "update_account",
];

#[test]
fn default_catalog_is_valid_and_complete() {
    let (catalog, data, _warnings) =
        catalog::load(&repo().join("intents"), &repo().join("training-data"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(catalog.names(), EXPECTED_INTENTS);
    for name in ["complaint", "human_agent", "other_question"] {
        assert_eq!(
            catalog.get(name).map(|i| i.handoff),
            Some(HandoffMode::Always),
            "{name}"
        );
    }
    let counts = data.counts();
    for intent in &catalog.intents {
        for locale in &catalog.locales {
            let n = counts
                .get(&(Some(intent.name.clone()), locale.clone()))
                .copied()
                .unwrap_or(0);
            assert!(n >= 40, "{} has {n} {locale} examples", intent.name);
        }
    }
    for locale in &catalog.locales {
        let oos = counts.get(&(None, locale.clone())).copied().unwrap_or(0);
        assert!(oos >= 150, "{oos} out-of-scope examples in {locale}");
    }
}

fn problems_of(dir: &Path) -> Vec<String> {
    match catalog::load(&dir.join("intents"), &dir.join("training-data")) {
        Ok(_) => Vec::new(),
        Err(CatalogError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Rewrites `intents/<name>.yaml` under `dir` after `change` edits its YAML.
fn edit_intent(dir: &Path, name: &str, change: impl FnOnce(&mut serde_norway::Value)) {
    let path = dir.join("intents").join(format!("{name}.yaml"));
    let mut intent: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&path).expect("read")).expect("yaml");
    change(&mut intent);
    std::fs::write(&path, serde_norway::to_string(&intent).expect("yaml")).expect("write");
}

fn assert_reported(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem containing {needle:?}, got:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unknown_intent_in_training_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    std::fs::write(
        dir.path().join("training-data/en/track_parcel.yaml"),
        "- where is it\n",
    )
    .expect("write");
    assert_reported(
        &problems_of(dir.path()),
        "track_parcel.yaml: unknown intent \"track_parcel\"",
    );
}

#[test]
fn utterance_with_two_intents_names_both_places() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let refund = dir.path().join("training-data/en/refund_status.yaml");
    let first = std::fs::read_to_string(dir.path().join("training-data/en/return_request.yaml"))
        .expect("read");
    let (first_line, item) = first
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("- "))
        .map(|(i, l)| (i + 1, l.to_string()))
        .expect("an item");
    let mut text = std::fs::read_to_string(&refund).expect("read");
    text.push_str(&format!("{item}\n"));
    let line = text.lines().count();
    std::fs::write(&refund, text).expect("write");
    let problems = problems_of(dir.path());
    // Both places are named, with their lines, whichever file is read first.
    assert_reported(&problems, &format!("refund_status.yaml:{line}"));
    assert_reported(&problems, &format!("return_request.yaml:{first_line}"));
    assert_reported(&problems, "is labelled return_request");
}

#[test]
fn too_few_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    std::fs::write(
        dir.path().join("training-data/ja/thanks.yaml"),
        "- ありがとう\n- 助かりました\n",
    )
    .expect("write");
    assert_reported(&problems_of(dir.path()), "too few examples in locale ja: 2");
}

#[test]
fn undeclared_template_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    edit_intent(dir.path(), "shipping_fees", |intent| {
        intent["templates"]["en"]
            .as_sequence_mut()
            .expect("en templates")
            .push(serde_norway::Value::String("Fee for {{ zone }}".into()));
    });
    assert_reported(
        &problems_of(dir.path()),
        "uses variable \"zone\", which the intent does not declare",
    );
}

#[test]
fn a_waiver_on_an_optional_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    edit_intent(dir.path(), "shipping_fees", |intent| {
        intent["variables"]["customer_name"] =
            serde_norway::from_str("{waived: {declined: true}}").expect("yaml");
    });
    assert_reported(
        &problems_of(dir.path()),
        "shipping_fees.yaml: variable \"customer_name\": `waived` only applies to a required variable",
    );
}

#[test]
fn missing_locale() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    edit_intent(dir.path(), "goodbye", |intent| {
        intent["templates"]
            .as_mapping_mut()
            .expect("map")
            .remove("ja");
    });
    assert_reported(&problems_of(dir.path()), "goodbye.yaml: missing locale ja");
}

#[test]
fn broken_yaml_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    std::fs::write(
        dir.path().join("intents/greeting.yaml"),
        "name: greeting\ndescription: [unclosed\n",
    )
    .expect("write");
    assert_reported(&problems_of(dir.path()), "greeting.yaml:");
}
