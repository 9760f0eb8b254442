//! The outcome of a suite run: one verdict per conversation, a pass table by category, and the
//! failures with the transcript that led to them.
use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::spec::Script;

/// How one scripted conversation went.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub name: String,
    pub category: String,
    /// (turn number, 1-based; 0 = before the first turn) and what was wrong.
    pub failures: Vec<(usize, String)>,
    /// (what the customer sent, what the bot did) per turn played.
    pub transcript: Vec<(String, String)>,
}

impl Verdict {
    pub fn new(script: &Script) -> Verdict {
        Verdict {
            name: script.name.clone(),
            category: script.category.clone(),
            failures: Vec::new(),
            transcript: Vec::new(),
        }
    }

    pub fn fail(&mut self, turn: usize, problem: String) {
        self.failures.push((turn, problem));
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub verdicts: Vec<Verdict>,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.verdicts.iter().filter(|v| v.passed()).count()
    }

    /// Share of conversations that passed (0 for an empty suite).
    pub fn pass_rate(&self) -> f64 {
        if self.verdicts.is_empty() {
            return 0.0;
        }
        self.passed() as f64 / self.verdicts.len() as f64
    }

    /// A Markdown table: conversations passed per category, and in all.
    pub fn table(&self) -> String {
        let mut by_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for v in &self.verdicts {
            let entry = by_category.entry(&v.category).or_default();
            entry.0 += usize::from(v.passed());
            entry.1 += 1;
        }
        let mut out = String::from("| category | passed | share |\n|---|---:|---:|\n");
        for (category, (passed, total)) in &by_category {
            let _ = writeln!(
                out,
                "| {category} | {passed}/{total} | {} |",
                percent(*passed, *total)
            );
        }
        let (passed, total) = (self.passed(), self.verdicts.len());
        let _ = writeln!(
            out,
            "| **all** | **{passed}/{total}** | **{}** |",
            percent(passed, total)
        );
        out
    }

    /// Each failed conversation: what went wrong, and the turns played.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for v in self.verdicts.iter().filter(|v| !v.passed()) {
            let _ = writeln!(out, "FAIL {} / {}", v.category, v.name);
            for (turn, problem) in &v.failures {
                let _ = writeln!(out, "  turn {turn}: {problem}");
            }
            for (i, (said, did)) in v.transcript.iter().enumerate() {
                let _ = writeln!(out, "    {}. > {said}\n       {did}", i + 1);
            }
        }
        out
    }
}

fn percent(passed: usize, total: usize) -> String {
    if total == 0 {
        return "-".into();
    }
    format!("{:.0} %", 100.0 * passed as f64 / total as f64)
}
