//! Loading `intents/` into a [`Catalog`]: every intent file, the optional settings of
//! `intents/_catalog.yaml`, and the checks of each intent against the catalog's locales.
use std::path::Path;

use serde::Deserialize;

use super::error::{CatalogError, Problem};
use super::files::{file_stem, read, yaml_files, yaml_problem};
use super::intent::{HandoffMode, Intent};
use super::template::check_templates;
use crate::domain::{IntentName, Locale};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_locales")]
    locales: Vec<Locale>,
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

/// The locales and minimum example count of an `_catalog.yaml` text.
#[cfg(test)]
pub(super) fn parse_settings(text: &str) -> Result<(Vec<Locale>, usize), serde_norway::Error> {
    serde_norway::from_str::<Settings>(text).map(|s| (s.locales, s.min_examples))
}

fn default_locales() -> Vec<Locale> {
    ["ja", "en"]
        .into_iter()
        .map(|code| Locale::parse(code).expect("a built-in language code; this is a bug"))
        .collect()
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
        let locales = settings.locales;

        let mut intents = Vec::new();
        for path in yaml_files(dir)? {
            let stem = file_stem(&path);
            if stem.starts_with('_') {
                continue;
            }
            let text = read(&path)?;
            if let Some(intent) = parse_intent(&text, &path, &stem, &locales, problems) {
                intents.push(intent);
            }
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

    /// The intent names, sorted.
    pub fn names(&self) -> Vec<IntentName> {
        self.intents.iter().map(|i| i.name.clone()).collect()
    }

    /// Indices (in [`Catalog::names`] order) of the intents a person always takes.
    pub fn always_handoff(&self) -> Vec<usize> {
        self.intents
            .iter()
            .enumerate()
            .filter(|(_, i)| i.handoff == HandoffMode::Always)
            .map(|(index, _)| index)
            .collect()
    }

    pub fn has_locale(&self, code: &str) -> bool {
        self.locales.iter().any(|l| l.as_str() == code)
    }
}

/// One intent file's text (read from `path`, named `<stem>.yaml`), validated against `locales`;
/// `None` when it is not a valid intent file (the problem is pushed).
pub(super) fn parse_intent(
    text: &str,
    path: &Path,
    stem: &str,
    locales: &[Locale],
    problems: &mut Vec<Problem>,
) -> Option<Intent> {
    let mut intent: Intent = match serde_norway::from_str(text) {
        Ok(i) => i,
        Err(e) => {
            problems.push(yaml_problem(path, &e));
            return None;
        }
    };
    intent.source = path.to_path_buf();
    validate_intent(&intent, stem, locales, problems);
    Some(intent)
}

/// The checks `madoguchi validate` makes of one intent file (named `<name>.yaml`) against the
/// catalog's locales: every problem found.
pub fn check_intent(intent: &Intent, locales: &[Locale]) -> Vec<Problem> {
    let mut problems = Vec::new();
    validate_intent(intent, intent.name.as_str(), locales, &mut problems);
    problems
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
        match intent.templates.get(locale.as_str()) {
            Some(list) if list.iter().any(|t| !t.trim().is_empty()) => {}
            _ => problems.push(Problem::new(
                path,
                None,
                format!("missing locale {locale}: no templates for it"),
            )),
        }
    }
    for code in intent.templates.keys().chain(intent.follow_up.keys()) {
        if !locales.iter().any(|l| l.as_str() == code) {
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
        if !spec.required && !spec.waived.is_empty() {
            problems.push(Problem::new(
                path,
                None,
                format!("variable {var:?}: `waived` only applies to a required variable"),
            ));
        }
        if spec.required {
            for locale in locales {
                if spec
                    .prompt
                    .get(locale.as_str())
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
        .map(Locale::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
