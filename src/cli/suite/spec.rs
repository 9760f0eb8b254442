//! The YAML form of a scripted conversation: what the customer says, turn by turn, and what the
//! bot must do. One file holds the conversations of one category (the file's stem).
//!
//! ```yaml
//! - name: order status, number given afterwards with polite words
//!   locale: ja                 # optional: the conversation's language; detected when absent
//!   customer: {name: 山田}      # optional customer metadata
//!   turns:
//!     - say: 注文した商品がまだ届きません
//!       expect: {kind: ask_slot, intent: order_status, reply_contains: [注文番号]}
//!     - say: MD-12345678です、よろしくお願いします
//!       expect: {kind: answer, intent: order_status}
//! ```
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{Action, IntentName, TurnKind};

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no conversation files (*.yaml) in {0}")]
    Empty(PathBuf),
}

/// One scripted conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    /// Set from the file name, not the YAML.
    #[serde(skip)]
    pub category: String,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub customer: Option<serde_json::Map<String, serde_json::Value>>,
    pub turns: Vec<Step>,
}

/// One customer message (typed, or a click on one of the last turn's quick replies).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub say: Option<String>,
    /// Click the quick reply for this intent (it must have been offered).
    #[serde(default)]
    pub click: Option<IntentName>,
    #[serde(default)]
    pub expect: Expect,
}

/// What the bot's turn must look like; every field given is checked, the rest is free.
/// Text checks ignore case and treat full-width and half-width forms alike (NFKC).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub action: Option<Action>,
    pub kind: Option<TurnKind>,
    pub intent: Option<IntentName>,
    /// The intent must not be this one (e.g. a clear new topic must win over the running one).
    pub not_intent: Option<IntentName>,
    /// Every string must occur in the reply.
    #[serde(default)]
    pub reply_contains: Vec<String>,
    /// At least one of these must occur in the reply.
    #[serde(default)]
    pub reply_contains_any: Vec<String>,
    /// None of these may occur in the reply.
    #[serde(default)]
    pub reply_not_contains: Vec<String>,
    /// `ja` or `en`: the language the reply is written in.
    pub reply_language: Option<String>,
    /// The bot stays silent (a person has the conversation).
    pub silent: Option<bool>,
    /// Every one of these intents is offered as a quick reply.
    #[serde(default)]
    pub quick_replies: Vec<IntentName>,
    /// None of these intents is offered as a quick reply.
    #[serde(default)]
    pub no_quick_replies: Vec<IntentName>,
    /// The handoff's reason (`complaint`, `explicit_request`, …).
    pub handoff_reason: Option<String>,
    /// Every string occurs in the summary the agent gets.
    #[serde(default)]
    pub summary_contains: Vec<String>,
}

/// Every `*.yaml` file of `dir`, sorted by name; each file's stem is its conversations' category.
pub fn load_suite(dir: &Path) -> Result<Vec<Script>, SuiteError> {
    let read_dir = std::fs::read_dir(dir).map_err(|source| SuiteError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = read_dir
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SuiteError::Empty(dir.to_path_buf()));
    }
    let mut scripts = Vec::new();
    for file in files {
        scripts.extend(load_file(&file)?);
    }
    Ok(scripts)
}

fn load_file(path: &Path) -> Result<Vec<Script>, SuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| SuiteError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut scripts: Vec<Script> =
        serde_norway::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let category = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut names = BTreeMap::new();
    for script in &mut scripts {
        script.category = category.clone();
        check_script(script).map_err(|m| invalid(format!("{}: {m}", script.name)))?;
        if names.insert(script.name.clone(), ()).is_some() {
            return Err(invalid(format!(
                "two conversations named {:?}",
                script.name
            )));
        }
    }
    Ok(scripts)
}

fn check_script(script: &Script) -> Result<(), String> {
    if script.turns.is_empty() {
        return Err("no turns".into());
    }
    for (i, step) in script.turns.iter().enumerate() {
        match (&step.say, &step.click) {
            (Some(text), None) if !text.trim().is_empty() => {}
            (None, Some(_)) if i > 0 => {}
            (None, Some(_)) => return Err("the first turn cannot be a click".into()),
            _ => {
                return Err(format!(
                    "turn {}: give exactly one of `say` or `click`",
                    i + 1
                ))
            }
        }
        if let Some(lang) = &step.expect.reply_language {
            if lang != "ja" && lang != "en" {
                return Err(format!("turn {}: reply_language must be ja or en", i + 1));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_suite_loads_with_its_categories() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations");
        let scripts = load_suite(&dir).expect("tests/conversations loads");
        assert!(scripts.len() >= 60, "only {} conversations", scripts.len());
        assert!(scripts.iter().all(|s| !s.category.is_empty()));
        let categories: std::collections::BTreeSet<_> =
            scripts.iter().map(|s| s.category.as_str()).collect();
        assert!(categories.contains("slot_filling") && categories.contains("handoff"));
    }

    fn problem_of(yaml: &str) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("cat.yaml"), yaml).expect("write");
        load_suite(dir.path())
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn malformed_scripts_are_refused_with_the_reason() {
        assert!(problem_of("- name: a\n  turns: []\n").contains("no turns"));
        assert!(problem_of("- name: a\n  turns:\n    - click: greeting\n").contains("first turn"));
        assert!(
            problem_of("- name: a\n  turns:\n    - say: hi\n      click: greeting\n")
                .contains("exactly one")
        );
        assert!(
            problem_of("- name: a\n  turns:\n    - say: hi\n      expect: {colour: red}\n")
                .contains("unknown field")
        );
        assert!(problem_of(
            "- name: a\n  turns:\n    - say: hi\n      expect: {reply_language: fr}\n"
        )
        .contains("ja or en"));
        let twice = "- name: a\n  turns: [{say: hi}]\n- name: a\n  turns: [{say: yo}]\n";
        assert!(problem_of(twice).contains("two conversations"));
    }
}
