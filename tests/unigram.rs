//! The compact Unigram model (`madoguchi::nlu::unigram`) against the `tokenizers` crate's own
//! `Unigram` on the real multilingual-e5 `tokenizer.json`: identical ids, pieces and offsets for
//! the bench messages, ~5,000 lines of the public benchmarks (read in place, skipped when absent)
//! and hostile Unicode. Skips, saying why, when the real encoder is not provisioned.
use std::path::Path;

use madoguchi::nlu::tokenize::TextTokenizer;
use madoguchi::nlu::unigram::CompactTokenizer;
use tokenizers::Tokenizer;

use crate::util::{real_encoder, repo};

/// Both tokenizers of `dir`, configured as the encoder configures them.
fn pair(dir: &Path) -> (Box<CompactTokenizer>, Box<Tokenizer>) {
    let path = dir.join("tokenizer.json");
    let mut compact = TextTokenizer::from_file(&path).expect("compact load");
    compact.configure(512).expect("configure");
    let mut stock = TextTokenizer::from(Tokenizer::from_file(&path).expect("crate load"));
    stock.configure(512).expect("configure");
    match (compact, stock) {
        (TextTokenizer::Compact(c), TextTokenizer::Stock(s)) => (c, s),
        _ => panic!("a Unigram tokenizer.json must load as the compact model"),
    }
}

/// Asserts identical encodings of `"query: " + text` for every text; returns how many.
fn assert_identical(compact: &CompactTokenizer, stock: &Tokenizer, texts: &[String]) -> usize {
    for text in texts {
        let input = format!("query: {text}");
        let want = stock.encode(input.as_str(), true).expect("crate encode");
        let got = compact
            .encode(input.as_str(), true)
            .expect("compact encode");
        assert_eq!(got.get_ids(), want.get_ids(), "ids of {text:?}");
        assert_eq!(got.get_tokens(), want.get_tokens(), "pieces of {text:?}");
        assert_eq!(got.get_offsets(), want.get_offsets(), "offsets of {text:?}");
    }
    texts.len()
}

fn lines(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipped {}: {e}", path.display());
            None
        }
    }
}

/// Every `step`-th of `texts`.
fn sample(texts: Vec<String>, step: usize) -> Vec<String> {
    texts.into_iter().step_by(step.max(1)).collect()
}

/// MASSIVE `utt` fields (JSON lines).
fn massive(locale: &str) -> Vec<String> {
    let path = repo().join(format!("../shared/datasets/massive/{locale}.jsonl"));
    let Some(text) = lines(&path) else {
        return Vec::new();
    };
    let utts = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["utt"].as_str().map(String::from))
        .collect::<Vec<_>>();
    let step = utts.len() / 1_250;
    sample(utts, step)
}

/// BANKING77 test texts (first CSV field, quotes honoured).
fn banking77() -> Vec<String> {
    let path = repo().join("../shared/datasets/banking77/test.csv");
    let Some(text) = lines(&path) else {
        return Vec::new();
    };
    let rows: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|row| match row.strip_prefix('"') {
            Some(rest) => rest
                .rfind("\",")
                .map(|end| rest[..end].replace("\"\"", "\"")),
            None => row.rsplit_once(',').map(|(t, _)| t.to_string()),
        })
        .collect();
    let step = rows.len() / 1_250;
    sample(rows, step)
}

/// CLINC150 texts of every split of `data_full.json`.
fn clinc150() -> Vec<String> {
    let path = repo().join("../shared/datasets/clinc150/data_full.json");
    let Some(text) = lines(&path) else {
        return Vec::new();
    };
    let data: serde_json::Value = serde_json::from_str(&text).expect("clinc150 JSON");
    let texts: Vec<String> = data
        .as_object()
        .into_iter()
        .flat_map(|splits| splits.values())
        .filter_map(|split| split.as_array())
        .flatten()
        .filter_map(|pair| pair[0].as_str().map(String::from))
        .collect();
    let step = texts.len() / 1_250;
    sample(texts, step)
}

#[test]
fn bench_messages_tokenise_identically() {
    let Some(dir) = real_encoder() else { return };
    let (compact, stock) = pair(&dir);
    let path = repo().join("../shared/bench/messages.txt");
    let Some(text) = lines(&path) else { return };
    let messages: Vec<String> = text.lines().map(String::from).collect();
    let n = assert_identical(&compact, &stock, &messages);
    assert!(n > 0, "{} is empty", path.display());
    println!("{n} bench messages identical");
}

#[test]
fn benchmark_datasets_tokenise_identically() {
    let Some(dir) = real_encoder() else { return };
    let (compact, stock) = pair(&dir);
    for (name, texts) in [
        ("MASSIVE ja-JP", massive("ja-JP")),
        ("MASSIVE en-US", massive("en-US")),
        ("BANKING77", banking77()),
        ("CLINC150", clinc150()),
    ] {
        let n = assert_identical(&compact, &stock, &texts);
        println!("{name}: {n} lines identical");
    }
}

#[test]
fn hostile_unicode_tokenises_identically() {
    let Some(dir) = real_encoder() else { return };
    let (compact, stock) = pair(&dir);
    let combining = format!("e{}", "\u{301}".repeat(10_000));
    let texts: Vec<String> = [
        "",
        "\0",
        "a\0b\0\0c",
        "\u{301}",
        "\u{301}\u{308}x",
        combining.as_str(),
        "👩\u{200D}👩\u{200D}👧\u{200D}👦 family",
        "🏳️\u{200D}🌈 and 👍🏽",
        "ｶﾀｶﾅ ﾊﾝｶｸ ｺﾝﾆﾁﾊ",
        "\u{202E}evil\u{202C} \u{200F}rtl\u{200E}",
        "مرحبا بالعالم",
        "𓀀𓀁𓀂 𐌰𐌱 ꦲꦏ ᚠᚢᚦ",
        "\u{E000}\u{F8FF}\u{FFFF}\u{10FFFF}",
        "</s> <s> <unk> <pad> ▁▁▁",
        "   leading and   inner   spaces   ",
        "Ｆｕｌｌｗｉｄｔｈ　ＡＳＣＩＩ　１２３",
        "tab\tnewline\ncarriage\r",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_identical(&compact, &stock, &texts);
    // An unknown script really comes out as <unk>, in both.
    let enc = compact.encode("query: 𓀀𓀁𓀂", true).expect("encode");
    let unk = compact.token_to_id("<unk>").expect("<unk>");
    assert!(enc.get_ids().contains(&unk), "{:?}", enc.get_tokens());
}

/// The resident memory each tokenizer costs (run alone: `cargo test --test integration
/// unigram::resident -- --ignored --nocapture --test-threads=1`).
#[test]
#[ignore = "measurement: run alone, prints VmRSS deltas"]
fn resident_memory_of_the_two_tokenizers() {
    let Some(dir) = real_encoder() else { return };
    let path = dir.join("tokenizer.json");
    // The compact one first: memory the crate's model frees may stay in the allocator.
    let before = vm_rss_kib();
    let compact = TextTokenizer::from_file(&path).expect("compact");
    let compact_kib = vm_rss_kib() - before;
    let before = vm_rss_kib();
    let stock = Tokenizer::from_file(&path).expect("crate");
    let stock_kib = vm_rss_kib() - before;
    let TextTokenizer::Compact(compact) = compact else {
        panic!("a Unigram tokenizer.json must load as the compact model")
    };
    println!(
        "tokenizer.json resident: compact {:.1} MiB (its model's arrays {:.1} MiB), crate {:.1} MiB; VmHWM {:.1} MiB",
        compact_kib as f64 / 1024.0,
        compact.get_model().heap_bytes() as f64 / 1048576.0,
        stock_kib as f64 / 1024.0,
        vm_kib("VmHWM:") as f64 / 1024.0
    );
    drop(stock);
}

fn vm_rss_kib() -> i64 {
    vm_kib("VmRSS:")
}

/// A `/proc/self/status` figure in KiB (`VmRSS:`, `VmHWM:`).
fn vm_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Where the encoder's resident memory goes (run alone: `cargo test --test integration
/// unigram::resident -- --ignored --nocapture --test-threads=1`).
#[test]
#[ignore = "measurement: run alone, prints VmRSS deltas"]
fn resident_memory_of_the_encoder() {
    use madoguchi::nlu::{BertEncoder, Encoder, EncoderOptions};
    let Some(dir) = real_encoder() else { return };
    let mib = |kib: i64| kib as f64 / 1024.0;
    let start = vm_rss_kib();
    let encoder = BertEncoder::from_dir(&dir, EncoderOptions::default()).expect("encoder");
    let loaded = vm_rss_kib();
    let bench = std::fs::read_to_string(repo().join("../shared/bench/messages.txt"))
        .unwrap_or_else(|_| "where is my parcel?\n荷物はどこですか".into());
    let texts: Vec<&str> = bench.lines().collect();
    for chunk in texts.chunks(32) {
        encoder.embed(chunk).expect("embed");
    }
    let warm = vm_rss_kib();
    println!(
        "encoder resident: {:.1} MiB at start, +{:.1} MiB loaded ({}), +{:.1} MiB after embedding {} messages",
        mib(start),
        mib(loaded - start),
        encoder.fingerprint(),
        mib(warm - loaded),
        texts.len()
    );
}

/// Tokenisation time of the bench messages, compact vs the crate's model (run alone, release:
/// `cargo test --release --test integration unigram::tokenisation_speed -- --ignored --nocapture`).
#[test]
#[ignore = "measurement: prints the time to tokenise the bench messages with each model"]
fn tokenisation_speed_of_the_two_models() {
    let Some(dir) = real_encoder() else { return };
    let (compact, stock) = pair(&dir);
    let path = repo().join("../shared/bench/messages.txt");
    let Some(text) = lines(&path) else { return };
    let inputs: Vec<String> = text.lines().map(|l| format!("query: {l}")).collect();
    let time = |f: &dyn Fn(&str)| {
        let t = std::time::Instant::now();
        for _ in 0..10 {
            inputs.iter().for_each(|s| f(s));
        }
        t.elapsed().as_secs_f64() * 1e6 / (10 * inputs.len()) as f64
    };
    // The crate's model caches words: its second pass is the warm figure.
    let crate_cold = time(&|s| drop(stock.encode(s, true)));
    let crate_warm = time(&|s| drop(stock.encode(s, true)));
    let compact_us = time(&|s| drop(compact.encode(s, true)));
    println!(
        "µs per message ({} messages): compact {compact_us:.1}, crate {crate_cold:.1} (first pass) / {crate_warm:.1} (word cache warm)",
        inputs.len()
    );
}
