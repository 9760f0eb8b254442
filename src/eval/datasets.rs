//! Benchmark dataset loaders: the public intent-classification sets in `../shared/datasets`.
//!
//! This module owns the mapping from each benchmark's file format to one shape, [`Dataset`]: three
//! splits of [`Example`]s whose label is `None` for out-of-scope messages. It also owns the
//! deterministic, stratified dev split that BANKING77 and HWU64 lack ([`stratified_holdout`]), so
//! every run of `madoguchi eval` sees exactly the same examples. (Cross-validation folds are
//! `nlu::fit::folds`, shared with training.)
//!
//! The data is not committed: a benchmark whose files are absent loads as
//! [`DatasetError::Missing`], which callers print and then carry on with the other benchmarks.
//! Provenance and verified row counts live in each dataset's `SOURCE.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the datasets live, relative to the repository root (the directory holding `Cargo.toml`).
pub const DEFAULT_ROOT: &str = "../shared/datasets";

/// Share of each class moved from train to the carved dev split (BANKING77, HWU64).
pub const DEV_FRACTION: f64 = 0.1;

/// Seed of the carved dev splits. Changing it changes every published BANKING77/HWU64 dev score.
pub const DEV_SEED: u64 = 0x6d61_646f_6775_6368; // "madoguch"

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    pub text: String,
    /// The intent; `None` means out of scope (CLINC150's `oos`).
    pub label: Option<String>,
}

/// A split of a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    /// Lowercase name: `train`, `dev` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A benchmark loaded into train/dev/test.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The benchmark's name, as [`Benchmark::name`].
    pub name: String,
    /// `"ja"` or `"en"`.
    pub locale: String,
    pub train: Vec<Example>,
    pub dev: Vec<Example>,
    pub test: Vec<Example>,
    /// Whether some examples are out of scope (label `None`).
    pub has_out_of_scope: bool,
}

impl Dataset {
    /// The examples of one split.
    pub fn split(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Test => &self.test,
        }
    }

    /// The distinct in-scope intents over all splits, sorted.
    pub fn intents(&self) -> Vec<&str> {
        let mut intents: Vec<&str> = self
            .train
            .iter()
            .chain(&self.dev)
            .chain(&self.test)
            .filter_map(|e| e.label.as_deref())
            .collect();
        intents.sort_unstable();
        intents.dedup();
        intents
    }
}

/// Why a benchmark could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The data is not there (it is never committed). Not fatal: print it and evaluate the rest.
    #[error("{} is absent: this dataset is not available here, so its evaluation is skipped", path.display())]
    Missing { path: PathBuf },
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file does not have the documented format. `line` is 1-based; 0 when the format gives
    /// no line (a CLINC150 list element: the message then names the split and index).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A benchmark name that [`Benchmark::from_str`] does not know.
    #[error("unknown benchmark {name:?} (expected one of: {})", Benchmark::all().map(Benchmark::name).join(", "))]
    UnknownBenchmark { name: String },
}

/// The benchmarks `madoguchi eval` knows how to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Benchmark {
    /// MASSIVE 1.1 ja-JP (reconstructed, see `massive/SOURCE.md`): 60 intents.
    MassiveJa,
    /// MASSIVE 1.1 en-US: 60 intents.
    MassiveEn,
    /// BANKING77: 77 banking customer-service intents; dev carved from train.
    Banking77,
    /// CLINC150 (`data_full.json`): 150 intents plus out-of-scope examples.
    Clinc150,
    /// HWU64 (KFold_1): 64 home-assistant intents; dev carved from train.
    Hwu64,
}

impl Benchmark {
    /// Every benchmark, Japanese first.
    pub fn all() -> [Benchmark; 5] {
        [
            Benchmark::MassiveJa,
            Benchmark::MassiveEn,
            Benchmark::Banking77,
            Benchmark::Clinc150,
            Benchmark::Hwu64,
        ]
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::MassiveJa => "massive-ja",
            Benchmark::MassiveEn => "massive-en",
            Benchmark::Banking77 => "banking77",
            Benchmark::Clinc150 => "clinc150",
            Benchmark::Hwu64 => "hwu64",
        }
    }

    /// `"ja"` or `"en"`.
    pub fn locale(self) -> &'static str {
        match self {
            Benchmark::MassiveJa => "ja",
            _ => "en",
        }
    }

    /// Loads the benchmark from `datasets_root` (usually [`DEFAULT_ROOT`] under the repository).
    ///
    /// BANKING77 and HWU64 have no dev split: one is carved from train with
    /// [`stratified_holdout`]`(train, `[`DEV_FRACTION`]`, `[`DEV_SEED`]`)`, and test is kept as is.
    pub fn load(self, datasets_root: &Path) -> Result<Dataset, DatasetError> {
        let (train, dev, test) = match self {
            Benchmark::MassiveJa => load_massive(&datasets_root.join("massive/ja-JP.jsonl"))?,
            Benchmark::MassiveEn => load_massive(&datasets_root.join("massive/en-US.jsonl"))?,
            Benchmark::Banking77 => load_csv_pair(&datasets_root.join("banking77"))?,
            Benchmark::Clinc150 => load_clinc(&datasets_root.join("clinc150/data_full.json"))?,
            Benchmark::Hwu64 => load_csv_pair(&datasets_root.join("hwu64"))?,
        };
        let has_out_of_scope = train
            .iter()
            .chain(&dev)
            .chain(&test)
            .any(|e| e.label.is_none());
        Ok(Dataset {
            name: self.name().to_owned(),
            locale: self.locale().to_owned(),
            train,
            dev,
            test,
            has_out_of_scope,
        })
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Benchmark {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Benchmark::all()
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| DatasetError::UnknownBenchmark { name: s.to_owned() })
    }
}

type Splits = (Vec<Example>, Vec<Example>, Vec<Example>);

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            DatasetError::Missing {
                path: path.to_owned(),
            }
        } else {
            DatasetError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })
}

fn parse_error(path: &Path, line: u64, message: impl Into<String>) -> DatasetError {
    DatasetError::Parse {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// MASSIVE: one JSON object per line; `partition` picks the split, `utt` is the text, `intent` the label.
fn load_massive(path: &Path) -> Result<Splits, DatasetError> {
    #[derive(Deserialize)]
    struct Row {
        partition: String,
        intent: String,
        utt: String,
    }
    let content = read(path)?;
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (index, line) in content.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line)
            .map_err(|e| parse_error(path, line_no, format!("invalid MASSIVE row: {e}")))?;
        let example = example(row.utt, row.intent).map_err(|m| parse_error(path, line_no, m))?;
        match row.partition.as_str() {
            "train" => train.push(example),
            "dev" => dev.push(example),
            "test" => test.push(example),
            other => {
                return Err(parse_error(
                    path,
                    line_no,
                    format!("unknown partition {other:?} (expected train, dev or test)"),
                ))
            }
        }
    }
    Ok((train, dev, test))
}

/// BANKING77 and HWU64: `train.csv` and `test.csv` with the header `text,category`; dev carved.
fn load_csv_pair(dir: &Path) -> Result<Splits, DatasetError> {
    let train_path = dir.join("train.csv");
    let test_path = dir.join("test.csv");
    let train = load_text_category_csv(&train_path)?;
    let test = load_text_category_csv(&test_path)?;
    let (train, dev) = stratified_holdout(train, DEV_FRACTION, DEV_SEED);
    Ok((train, dev, test))
}

fn load_text_category_csv(path: &Path) -> Result<Vec<Example>, DatasetError> {
    let content = read(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(content.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        parse_error(path, line, format!("invalid CSV: {e}"))
    };
    let header = reader.headers().map_err(csv_error)?;
    if header.len() != 2 || &header[0] != "text" || &header[1] != "category" {
        return Err(parse_error(
            path,
            1,
            format!(
                "expected the header `text,category`, found `{}`",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != 2 {
            return Err(parse_error(
                path,
                line,
                format!("expected 2 fields (text, category), found {}", record.len()),
            ));
        }
        examples.push(
            example(record[0].to_owned(), record[1].to_owned())
                .map_err(|m| parse_error(path, line, m))?,
        );
    }
    Ok(examples)
}

/// CLINC150 `data_full.json`: each split is a list of `[text, intent]`. The `oos_*` splits are
/// appended to the matching split with label `None`; in-scope labels are kept as given.
fn load_clinc(path: &Path) -> Result<Splits, DatasetError> {
    #[derive(Deserialize)]
    struct File {
        train: Vec<(String, String)>,
        val: Vec<(String, String)>,
        test: Vec<(String, String)>,
        oos_train: Vec<(String, String)>,
        oos_val: Vec<(String, String)>,
        oos_test: Vec<(String, String)>,
    }
    let content = read(path)?;
    let file: File = serde_json::from_str(&content)
        .map_err(|e| parse_error(path, e.line() as u64, format!("invalid CLINC150 file: {e}")))?;
    let split = |name: &str,
                 in_scope: Vec<(String, String)>,
                 oos: Vec<(String, String)>|
     -> Result<Vec<Example>, DatasetError> {
        let mut examples = Vec::with_capacity(in_scope.len() + oos.len());
        for (i, (text, label)) in in_scope.into_iter().enumerate() {
            // serde_json does not tell an element's line, so the message names the element instead.
            examples.push(
                example(text, label)
                    .map_err(|m| parse_error(path, 0, format!("{name}[{i}]: {m}")))?,
            );
        }
        examples.extend(
            oos.into_iter()
                .map(|(text, _)| Example { text, label: None }),
        );
        Ok(examples)
    };
    Ok((
        split("train", file.train, file.oos_train)?,
        split("val", file.val, file.oos_val)?,
        split("test", file.test, file.oos_test)?,
    ))
}

/// A labelled example, or why the row is unusable.
fn example(text: String, label: String) -> Result<Example, &'static str> {
    if text.trim().is_empty() {
        return Err("empty text");
    }
    if label.trim().is_empty() {
        return Err("empty label");
    }
    Ok(Example {
        text,
        label: Some(label),
    })
}

/// SplitMix64: a tiny PRNG written out here, rather than `rand`'s `StdRng`, because `rand` does not
/// promise the same stream across releases and the carved splits must never change.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so that no value is favoured.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Indices grouped by label (`None` is a class of its own), classes in sorted order, each group
/// shuffled with one generator seeded by `seed`.
fn shuffled_classes(labels: &[Option<&str>], seed: u64) -> Vec<Vec<usize>> {
    let mut classes: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        classes.entry(*label).or_default().push(i);
    }
    let mut rng = SplitMix64(seed);
    classes
        .into_values()
        .map(|mut indices| {
            rng.shuffle(&mut indices);
            indices
        })
        .collect()
}

/// Splits `examples` into `(kept, held_out)`, holding out `round(n × fraction)` examples of each
/// class of `n` (at most `n − 1`, so every class stays in `kept`). Deterministic for a given seed;
/// both parts keep the input order.
pub fn stratified_holdout(
    examples: Vec<Example>,
    fraction: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>) {
    let labels: Vec<Option<&str>> = examples.iter().map(|e| e.label.as_deref()).collect();
    let mut held_out = vec![false; examples.len()];
    for indices in shuffled_classes(&labels, seed) {
        let n = indices.len();
        let take =
            ((n as f64 * fraction.clamp(0.0, 1.0)).round() as usize).min(n.saturating_sub(1));
        for &i in &indices[..take] {
            held_out[i] = true;
        }
    }
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (example, held) in examples.into_iter().zip(held_out) {
        if held {
            out.push(example);
        } else {
            kept.push(example);
        }
    }
    (kept, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ex(text: &str, label: Option<&str>) -> Example {
        Example {
            text: text.to_owned(),
            label: label.map(str::to_owned),
        }
    }

    fn count_by_label(examples: &[Example]) -> HashMap<Option<String>, usize> {
        let mut counts = HashMap::new();
        for e in examples {
            *counts.entry(e.label.clone()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn names_round_trip() {
        for b in Benchmark::all() {
            assert_eq!(b.name().parse::<Benchmark>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
        }
        let err = "massive".parse::<Benchmark>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"massive\""), "{message}");
        assert!(
            message.contains("massive-ja, massive-en, banking77, clinc150, hwu64"),
            "{message}"
        );
    }

    #[test]
    fn absent_dataset_is_missing_and_says_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for b in Benchmark::all() {
            let err = b.load(dir.path()).unwrap_err();
            let DatasetError::Missing { path } = &err else {
                panic!("{b}: expected Missing, got {err:?}");
            };
            assert!(path.starts_with(dir.path()));
            assert!(err.to_string().contains("skipped"), "{err}");
        }
    }

    #[test]
    fn massive_parse_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("massive")).unwrap();
        let path = dir.path().join("massive/en-US.jsonl");
        std::fs::write(
            &path,
            "{\"partition\":\"train\",\"intent\":\"a\",\"utt\":\"hi\"}\n\n{\"partition\":\"train\",\"utt\":\"x\"}\n",
        )
        .unwrap();
        let err = Benchmark::MassiveEn.load(dir.path()).unwrap_err();
        match &err {
            DatasetError::Parse { path: p, line, .. } => {
                assert_eq!(p, &path);
                assert_eq!(*line, 3);
            }
            other => panic!("expected Parse, got {other:?}"),
        }
        assert!(err.to_string().contains("en-US.jsonl:3:"), "{err}");

        std::fs::write(
            &path,
            "{\"partition\":\"validation\",\"intent\":\"a\",\"utt\":\"hi\"}\n",
        )
        .unwrap();
        let err = Benchmark::MassiveEn.load(dir.path()).unwrap_err();
        assert!(
            matches!(err, DatasetError::Parse { line: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("unknown partition"), "{err}");
    }

    #[test]
    fn massive_small_file_loads_into_splits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("massive")).unwrap();
        let rows = [
            ("train", "alarm_set", "起こして"),
            ("dev", "alarm_query", "アラームは"),
            ("test", "alarm_set", "七時に起こして"),
            ("train", "weather_query", "天気は"),
        ];
        let content: String = rows
            .iter()
            .map(|(p, i, u)| {
                format!("{{\"id\":\"1\",\"locale\":\"ja-JP\",\"partition\":\"{p}\",\"intent\":\"{i}\",\"utt\":\"{u}\"}}\n")
            })
            .collect();
        std::fs::write(dir.path().join("massive/ja-JP.jsonl"), content).unwrap();
        let d = Benchmark::MassiveJa.load(dir.path()).unwrap();
        assert_eq!(d.name, "massive-ja");
        assert_eq!(d.locale, "ja");
        assert!(!d.has_out_of_scope);
        assert_eq!(
            d.train,
            vec![
                ex("起こして", Some("alarm_set")),
                ex("天気は", Some("weather_query"))
            ]
        );
        assert_eq!(
            d.split(Split::Dev),
            &[ex("アラームは", Some("alarm_query"))]
        );
        assert_eq!(
            d.split(Split::Test),
            &[ex("七時に起こして", Some("alarm_set"))]
        );
        assert_eq!(
            d.intents(),
            vec!["alarm_query", "alarm_set", "weather_query"]
        );
    }

    #[test]
    fn csv_header_and_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("banking77")).unwrap();
        std::fs::write(root.join("banking77/train.csv"), "text;category\na;b\n").unwrap();
        std::fs::write(root.join("banking77/test.csv"), "text,category\n").unwrap();
        let err = Benchmark::Banking77.load(root).unwrap_err();
        assert!(
            matches!(err, DatasetError::Parse { line: 1, .. }),
            "{err:?}"
        );

        // A quoted text spanning two lines: the error on the next record names its real line.
        std::fs::write(
            root.join("banking77/train.csv"),
            "text,category\n\"two\nlines\",card_arrival\nno label here,\n",
        )
        .unwrap();
        let err = Benchmark::Banking77.load(root).unwrap_err();
        assert!(
            matches!(err, DatasetError::Parse { line: 4, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("train.csv:4: empty label"),
            "{err}"
        );
    }

    #[test]
    fn clinc_oos_splits_have_no_label() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("clinc150")).unwrap();
        std::fs::write(
            root.join("clinc150/data_full.json"),
            r#"{"train": [["hi", "greeting"]], "val": [["yo", "greeting"]], "test": [["bye", "goodbye"]],
                "oos_train": [["pizza?", "oos"]], "oos_val": [], "oos_test": [["moon", "oos"], ["sun", "oos"]]}"#,
        )
        .unwrap();
        let d = Benchmark::Clinc150.load(root).unwrap();
        assert!(d.has_out_of_scope);
        assert_eq!(
            d.train,
            vec![ex("hi", Some("greeting")), ex("pizza?", None)]
        );
        assert_eq!(d.dev, vec![ex("yo", Some("greeting"))]);
        assert_eq!(
            d.test,
            vec![
                ex("bye", Some("goodbye")),
                ex("moon", None),
                ex("sun", None)
            ]
        );

        std::fs::write(
            root.join("clinc150/data_full.json"),
            r#"{"train": [["hi", ""]], "val": [], "test": [], "oos_train": [], "oos_val": [], "oos_test": []}"#,
        )
        .unwrap();
        let err = Benchmark::Clinc150.load(root).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("data_full.json:0: train[0]: empty label"),
            "{err}"
        );

        std::fs::write(root.join("clinc150/data_full.json"), "{\"train\": []\n}").unwrap();
        let err = Benchmark::Clinc150.load(root).unwrap_err();
        assert!(
            matches!(err, DatasetError::Parse { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn holdout_is_stratified_deterministic_and_order_preserving() {
        let mut examples = Vec::new();
        for i in 0..95 {
            examples.push(ex(&format!("a{i}"), Some("a")));
        }
        for i in 0..14 {
            examples.push(ex(&format!("b{i}"), Some("b")));
        }
        examples.push(ex("lonely", Some("c")));
        examples.push(ex("oos1", None));
        examples.push(ex("oos2", None));
        let (kept, held) = stratified_holdout(examples.clone(), 0.1, 7);
        let held_counts = count_by_label(&held);
        assert_eq!(held_counts.get(&Some("a".into())), Some(&10)); // round(9.5)
        assert_eq!(held_counts.get(&Some("b".into())), Some(&1)); // round(1.4)
        assert_eq!(held_counts.get(&Some("c".into())), None); // never empties a class
        assert_eq!(held_counts.get(&None), None); // round(0.2)
        assert_eq!(kept.len() + held.len(), examples.len());
        // Both parts are subsequences of the input.
        let position = |e: &Example| examples.iter().position(|x| x == e).unwrap();
        for part in [&kept, &held] {
            let positions: Vec<usize> = part.iter().map(position).collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(
            stratified_holdout(examples.clone(), 0.1, 7),
            (kept, held.clone())
        );
        assert_ne!(stratified_holdout(examples.clone(), 0.1, 8).1, held);
        let (all, none) = stratified_holdout(examples.clone(), 0.0, 7);
        assert_eq!((all.len(), none.len()), (examples.len(), 0));
    }

    /// The shared datasets, or `None` (after saying why) when they are not on this machine.
    fn shared_root() -> Option<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_ROOT);
        if root.is_dir() {
            Some(root)
        } else {
            eprintln!("skipping: {} is absent", root.display());
            None
        }
    }

    fn assert_counts(d: &Dataset, train: usize, dev: usize, test: usize, intents: usize) {
        assert_eq!(
            (d.train.len(), d.dev.len(), d.test.len(), d.intents().len()),
            (train, dev, test, intents),
            "{}: (train, dev, test, intents)",
            d.name
        );
    }

    #[test]
    fn massive_counts_match_source_md() {
        let Some(root) = shared_root() else { return };
        for b in [Benchmark::MassiveJa, Benchmark::MassiveEn] {
            let d = b.load(&root).unwrap();
            assert_counts(&d, 11_514, 2_033, 2_974, 60);
            assert!(!d.has_out_of_scope);
            assert_eq!(count_by_label(&d.train).len(), 60);
            assert_eq!(count_by_label(&d.dev).len(), 59);
            assert_eq!(count_by_label(&d.test).len(), 59);
        }
        // Parallel corpus: same labels row for row, Japanese text in the ja file.
        let ja = Benchmark::MassiveJa.load(&root).unwrap();
        let en = Benchmark::MassiveEn.load(&root).unwrap();
        assert!(ja
            .test
            .iter()
            .zip(&en.test)
            .all(|(j, e)| j.label == e.label));
        assert_eq!(ja.test[0].text, "今週は午前五時に起こして");
        assert_eq!(en.test[0].text, "wake me up at five am this week");
    }

    /// The source train rows (SOURCE.md) are split into train + carved dev, 10% of each class.
    fn check_carved(d: &Dataset, source_train: usize, intents: usize) {
        assert_eq!(d.train.len() + d.dev.len(), source_train);
        let train = count_by_label(&d.train);
        let dev = count_by_label(&d.dev);
        assert_eq!(train.len(), intents);
        assert_eq!(dev.len(), intents, "every class has dev examples");
        for (label, n_dev) in &dev {
            let n = train[label] + n_dev;
            assert_eq!(
                *n_dev,
                (n as f64 * DEV_FRACTION).round() as usize,
                "{label:?}"
            );
        }
    }

    #[test]
    fn banking77_counts_match_source_md() {
        let Some(root) = shared_root() else { return };
        let d = Benchmark::Banking77.load(&root).unwrap();
        assert_eq!(d.test.len(), 3_080);
        assert_eq!(d.intents().len(), 77);
        assert!(!d.has_out_of_scope);
        check_carved(&d, 10_003, 77);
        assert!(count_by_label(&d.test).values().all(|&n| n == 40));
        let categories: Vec<String> = serde_json::from_str(
            &std::fs::read_to_string(root.join("banking77/categories.json")).unwrap(),
        )
        .unwrap();
        let mut categories: Vec<&str> = categories.iter().map(String::as_str).collect();
        categories.sort_unstable();
        assert_eq!(d.intents(), categories);
        assert_eq!(
            Benchmark::Banking77.load(&root).unwrap(),
            d,
            "deterministic"
        );
    }

    #[test]
    fn clinc150_counts_match_source_md() {
        let Some(root) = shared_root() else { return };
        let d = Benchmark::Clinc150.load(&root).unwrap();
        assert_counts(&d, 15_000 + 100, 3_000 + 100, 4_500 + 1_000, 150);
        assert!(d.has_out_of_scope);
        let oos = |s: &[Example]| s.iter().filter(|e| e.label.is_none()).count();
        assert_eq!(
            (oos(&d.train), oos(&d.dev), oos(&d.test)),
            (100, 100, 1_000)
        );
        let train = count_by_label(&d.train);
        assert!(train.iter().all(|(l, &n)| l.is_none() || n == 100));
        assert!(count_by_label(&d.test)
            .iter()
            .all(|(l, &n)| l.is_none() || n == 30));
        assert!(!d.intents().contains(&"oos"));
    }

    #[test]
    fn hwu64_counts_match_source_md() {
        let Some(root) = shared_root() else { return };
        let d = Benchmark::Hwu64.load(&root).unwrap();
        assert_eq!(d.test.len(), 1_076);
        assert_eq!(d.intents().len(), 64);
        check_carved(&d, 9_960, 64);
        let test = count_by_label(&d.test);
        assert_eq!(test.len(), 64);
        assert_eq!(
            (test.values().min(), test.values().max()),
            (Some(&3), Some(&19))
        );
    }
}
