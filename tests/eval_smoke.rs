//! `madoguchi eval --smoke`: the evaluation path end to end on small subsets of the real benchmarks
//! (the full run is `make eval`), and the skip when the datasets are absent.
use serde_json::Value;

use crate::util::{copy_catalog, madoguchi, real_encoder, repo, show};

#[test]
fn smoke_evaluation_writes_reports() {
    let Some(encoder) = real_encoder() else {
        return;
    };
    let datasets = repo().join("../shared/datasets");
    if !datasets.is_dir() {
        eprintln!("skipped: {} is absent", datasets.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let out_dir = dir.path().join("out");
    let cache = repo().join("target/test-embedding-cache");
    let args = [
        "eval",
        "--smoke",
        "--benchmarks",
        "clinc150,massive-ja",
        "--encoder",
        encoder.to_str().expect("utf-8"),
        "--cache",
        cache.to_str().expect("utf-8"),
        "--datasets",
        datasets.to_str().expect("utf-8"),
        "--out",
        out_dir.to_str().expect("utf-8"),
    ];
    let out = madoguchi(dir.path(), &args, b"");
    assert!(
        out.status.success(),
        "{}",
        show("madoguchi eval --smoke", &out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("| catalog |")
            && stdout.contains("| clinc150 |")
            && stdout.contains("| massive-ja |"),
        "{stdout}"
    );
    let results: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("eval.json")).expect("eval.json"),
    )
    .expect("json");
    assert_eq!(results.len(), 3);
    for r in &results {
        let acc = r["report"]["accuracy"].as_f64().expect("accuracy");
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }
    let clinc = results
        .iter()
        .find(|r| r["name"] == "clinc150")
        .expect("clinc150");
    assert!(
        clinc["report"]["oos_recall"].is_number(),
        "CLINC150 reports out-of-scope recall"
    );
    // The catalog is what the bot ships with: even the 3-fold smoke must classify it well.
    let catalog = results
        .iter()
        .find(|r| r["name"] == "catalog")
        .expect("catalog");
    assert!(
        catalog["report"]["in_scope_accuracy"]
            .as_f64()
            .expect("acc")
            > 0.8,
        "{catalog}"
    );
    let md = std::fs::read_to_string(out_dir.join("eval.md")).expect("eval.md");
    assert!(md.contains("clinc150"));
}

#[test]
fn absent_datasets_are_skipped_with_a_message() {
    let Some(encoder) = real_encoder() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    copy_catalog(dir.path());
    let cache = repo().join("target/test-embedding-cache");
    let args = [
        "eval",
        "--no-catalog",
        "--benchmarks",
        "banking77",
        "--encoder",
        encoder.to_str().expect("utf-8"),
        "--cache",
        cache.to_str().expect("utf-8"),
        "--datasets",
        "/nonexistent/datasets",
    ];
    let out = madoguchi(dir.path(), &args, b"");
    assert!(out.status.success(), "{}", show("madoguchi eval", &out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("skipped banking77") && all.contains("absent"),
        "{all}"
    );
}
