//! Intent definitions: `intents/<name>.yaml`, plus optional catalog settings in `intents/_catalog.yaml`.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{CatalogError, Problem};
use super::template::check_templates;
use super::training::OUT_OF_SCOPE;

pub use crate::domain::{IntentName, Locale};

/// When an intent goes to a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMode {
    /// Always hand the conversation to a person (complaints, explicit requests).
    Always,
    /// Never hand off for this intent.
    Never,
    /// The dialogue policy decides from confidence and the conversation.
    #[default]
    Auto,
}

/// A variable that templates of an intent may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    /// Ask the customer for it before answering.
    #[serde(default)]
    pub required: bool,
    /// How to ask for it, per locale.
    #[serde(default)]
    pub prompt: BTreeMap<String, String>,
}

/// One intent as written in `intents/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub name: IntentName,
    pub description: String,
    #[serde(default)]
    pub handoff: HandoffMode,
    /// Overrides the trained answer threshold for this intent.
    #[serde(default)]
    pub threshold: Option<f32>,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableSpec>,
    #[serde(default)]
    pub follow_up: BTreeMap<String, String>,
    pub templates: BTreeMap<String, Vec<String>>,
    /// Where it was read from (not part of the file).
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_locales")]
    locales: Vec<String>,
    #[serde(default = "default_min_examples")]
    min_examples: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            locales: default_locales(),
            min_examples: default_min_examples(),
        }
    }
}

fn default_locales() -> Vec<String> {
    vec!["ja".into(), "en".into()]
}

fn default_min_examples() -> usize {
    40
}

/// All intents, sorted by name, and the catalog settings.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub intents: Vec<Intent>,
    pub locales: Vec<Locale>,
    /// Fewer training utterances than this in a locale is an error.
    pub min_examples: usize,
}

/// Name of the optional settings file inside `intents/`.
pub const SETTINGS_FILE: &str = "_catalog.yaml";

impl Catalog {
    /// Reads every `intents/*.yaml` (files starting with `_` are settings, not intents).
    /// Problems are pushed to `problems`; only unreadable directories are hard errors.
    pub fn load(dir: &Path, problems: &mut Vec<Problem>) -> Result<Self, CatalogError> {
        let settings_path = dir.join(SETTINGS_FILE);
        let settings = if settings_path.exists() {
            let text = read(&settings_path)?;
            match serde_norway::from_str::<Settings>(&text) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(yaml_problem(&settings_path, &e));
                    Settings::default()
                }
            }
        } else {
            Settings::default()
        };
        let locales: Vec<Locale> = settings.locales.iter().cloned().map(Locale).collect();

        let mut intents = Vec::new();
        for path in yaml_files(dir)? {
            let stem = file_stem(&path);
            if stem.starts_with('_') {
                continue;
            }
            let text = read(&path)?;
            let mut intent: Intent = match serde_norway::from_str(&text) {
                Ok(i) => i,
                Err(e) => {
                    problems.push(yaml_problem(&path, &e));
                    continue;
                }
            };
            intent.source = path.clone();
            validate_intent(&intent, &stem, &locales, problems);
            intents.push(intent);
        }
        if intents.is_empty() {
            problems.push(Problem::new(
                dir,
                None,
                "no intents found (expected intents/<name>.yaml files)",
            ));
        }
        intents.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            intents,
            locales,
            min_examples: settings.min_examples,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name.as_str() == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.intents.iter().map(|i| i.name.to_string()).collect()
    }

    pub fn has_locale(&self, code: &str) -> bool {
        self.locales.iter().any(|l| l.0 == code)
    }
}

fn validate_intent(intent: &Intent, stem: &str, locales: &[Locale], problems: &mut Vec<Problem>) {
    let path = &intent.source;
    if intent.name.as_str() != stem {
        problems.push(Problem::new(
            path,
            None,
            format!(
                "name {:?} differs from the file name {stem:?}",
                intent.name.as_str()
            ),
        ));
    }
    if intent.description.trim().is_empty() {
        problems.push(Problem::new(path, None, "description is empty"));
    }
    if let Some(t) = intent.threshold {
        if !(0.0..=1.0).contains(&t) {
            problems.push(Problem::new(
                path,
                None,
                format!("threshold {t} is outside 0..1"),
            ));
        }
    }
    for locale in locales {
        match intent.templates.get(&locale.0) {
            Some(list) if list.iter().any(|t| !t.trim().is_empty()) => {}
            _ => problems.push(Problem::new(
                path,
                None,
                format!("missing locale {locale}: no templates for it"),
            )),
        }
    }
    for code in intent.templates.keys().chain(intent.follow_up.keys()) {
        if !locales.iter().any(|l| &l.0 == code) {
            problems.push(Problem::new(
                path,
                None,
                format!(
                    "unknown locale {code:?} (the catalog's locales are {})",
                    locale_list(locales)
                ),
            ));
        }
    }
    for (var, spec) in &intent.variables {
        if spec.required {
            for locale in locales {
                if spec
                    .prompt
                    .get(&locale.0)
                    .is_none_or(|p| p.trim().is_empty())
                {
                    problems.push(Problem::new(
                        path,
                        None,
                        format!("required variable {var:?} has no prompt for locale {locale}"),
                    ));
                }
            }
        }
    }
    problems.extend(check_templates(intent));
}

fn locale_list(locales: &[Locale]) -> String {
    locales
        .iter()
        .map(|l| l.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn read(path: &Path) -> Result<String, CatalogError> {
    std::fs::read_to_string(path).map_err(|e| CatalogError::io(path, e))
}

pub(crate) fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CatalogError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CatalogError::io(dir, e))?.path();
        if path.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn yaml_problem(path: &Path, e: &serde_norway::Error) -> Problem {
    let line = e.location().map(|l| l.line());
    Problem::new(path, line, format!("invalid YAML: {e}"))
}
