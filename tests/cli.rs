//! The real binary: clear errors and exit codes for bad input, no model, and the validate command.
use crate::util::{copy_catalog, madoguchi, show};

#[test]
fn validate_accepts_the_default_catalog() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let out = madoguchi(dir.path(), &["validate"], b"");
    assert!(out.status.success(), "{}", show("madoguchi validate", &out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: 25 intents"),
        "{}",
        show("validate", &out)
    );
}

#[test]
fn validate_reports_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    std::fs::write(
        dir.path().join("training-data/en/no_such_intent.yaml"),
        "- hi\n",
    )
    .expect("write");
    let out = madoguchi(dir.path(), &["validate"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", show("validate", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("training-data/en/no_such_intent.yaml: unknown intent"),
        "{err}"
    );
}

#[test]
fn validate_checks_the_dialogue_configuration_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let path = dir.path().join("intents/_dialogue.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    // A line that uses a variable it never gets, and an intent the catalog lacks.
    let broken = text
        .replacen("rephrase: \"", "rephrase: \"{{ order_total }} ", 1)
        .replacen("reply_intent: goodbye", "reply_intent: farewell", 1);
    assert_ne!(broken, text, "the edits must apply");
    std::fs::write(&path, broken).expect("write");
    let out = madoguchi(dir.path(), &["validate"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", show("validate", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("order_total"), "{err}");
    assert!(err.contains("farewell"), "{err}");
}

#[test]
fn classify_without_a_model_says_how_to_train() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let out = madoguchi(
        dir.path(),
        &["classify", "--format", "jsonl"],
        "hello\n".as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show("classify", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no trained model") && err.contains("madoguchi train"),
        "{err}"
    );
}

#[test]
fn missing_encoder_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let out = madoguchi(
        dir.path(),
        &["train", "--encoder", "no/such-dir-or-model", "--quiet"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show("train", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such-dir-or-model"), "{err}");
}
