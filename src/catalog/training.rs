//! Training data: `training-data/<locale>/<intent>.yaml`, one utterance per list item.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use super::error::{CatalogError, Problem};
use super::files::{file_stem, read, yaml_files, yaml_problem};
use super::load::Catalog;
use crate::domain::{IntentName, Locale, OUT_OF_SCOPE};

/// One labelled customer message.
#[derive(Debug, Clone)]
pub struct Utterance {
    pub text: String,
    /// `None` for out-of-scope messages.
    pub intent: Option<IntentName>,
    pub locale: Locale,
    pub path: Arc<PathBuf>,
    pub line: Option<usize>,
}

impl Utterance {
    pub fn location(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// Every utterance of the training data, in file order.
#[derive(Debug, Clone, Default)]
pub struct TrainingSet {
    pub examples: Vec<Utterance>,
}

impl TrainingSet {
    /// The examples' texts, and each one's intent as an index into `names` (`None`: out of scope,
    /// or an intent not in `names`), in file order.
    pub fn texts_and_labels(&self, names: &[IntentName]) -> (Vec<&str>, Vec<Option<usize>>) {
        let texts = self.examples.iter().map(|u| u.text.as_str()).collect();
        let labels = self
            .examples
            .iter()
            .map(|u| {
                u.intent
                    .as_ref()
                    .and_then(|n| names.iter().position(|x| x == n))
            })
            .collect();
        (texts, labels)
    }

    /// Reads `dir/<locale>/*.yaml` for each catalog locale and checks it against the catalog.
    pub fn load(
        dir: &Path,
        catalog: &Catalog,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<Problem>,
    ) -> Result<Self, CatalogError> {
        let mut set = TrainingSet::default();
        if !dir.is_dir() {
            problems.push(Problem::new(dir, None, "training-data directory not found"));
            return Ok(set);
        }
        for entry in std::fs::read_dir(dir).map_err(|e| CatalogError::io(dir, e))? {
            let path = entry.map_err(|e| CatalogError::io(dir, e))?.path();
            if path.is_dir() && !catalog.has_locale(&file_stem(&path)) {
                problems.push(Problem::new(
                    &path,
                    None,
                    "directory for a locale the catalog does not have (add it to intents/_catalog.yaml)",
                ));
            }
        }
        for locale in &catalog.locales {
            let locale_dir = dir.join(locale.as_str());
            if !locale_dir.is_dir() {
                problems.push(Problem::new(
                    &locale_dir,
                    None,
                    format!("missing locale {locale}: no training data"),
                ));
                continue;
            }
            for path in yaml_files(&locale_dir)? {
                let stem = file_stem(&path);
                let intent = if stem == OUT_OF_SCOPE {
                    None
                } else if catalog.get(&stem).is_some() {
                    IntentName::try_from(stem.clone()).ok()
                } else {
                    problems.push(Problem::new(
                        &path,
                        None,
                        format!("unknown intent {stem:?}: there is no intents/{stem}.yaml"),
                    ));
                    continue;
                };
                let text = read(&path)?;
                let items = match parse_items(&text) {
                    Ok(items) => items,
                    Err(e) => {
                        problems.push(yaml_problem(&path, &e));
                        continue;
                    }
                };
                let path = Arc::new(path);
                for (text, line) in items {
                    match text {
                        Some(t) if !t.trim().is_empty() => set.examples.push(Utterance {
                            text: t.trim().to_string(),
                            intent: intent.clone(),
                            locale: locale.clone(),
                            path: path.clone(),
                            line,
                        }),
                        _ => problems.push(Problem::new(path.as_ref(), line, "empty utterance")),
                    }
                }
            }
        }
        set.check(catalog, problems, warnings);
        Ok(set)
    }

    /// Cross-file checks: conflicting labels, duplicates, too few examples.
    fn check(&self, catalog: &Catalog, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
        let mut seen: HashMap<(String, &Locale), &Utterance> = HashMap::new();
        for u in &self.examples {
            match seen.entry((dedup_key(&u.text), &u.locale)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(u);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let first = *o.get();
                    if first.intent == u.intent {
                        warnings.push(Problem::new(
                            u.path.as_ref(),
                            u.line,
                            format!("duplicate of {} ({:?})", first.location(), u.text),
                        ));
                    } else {
                        problems.push(Problem::new(
                            u.path.as_ref(),
                            u.line,
                            format!(
                                "{:?} is labelled {} here and {} at {}",
                                u.text,
                                label(&u.intent),
                                label(&first.intent),
                                first.location()
                            ),
                        ));
                    }
                }
            }
        }
        for intent in &catalog.intents {
            for locale in &catalog.locales {
                let n = self
                    .examples
                    .iter()
                    .filter(|u| u.intent.as_ref() == Some(&intent.name) && &u.locale == locale)
                    .count();
                if n < catalog.min_examples {
                    problems.push(Problem::new(
                        &intent.source,
                        None,
                        format!(
                            "too few examples in locale {locale}: {n} (at least {} needed in training-data/{locale}/{}.yaml)",
                            catalog.min_examples, intent.name
                        ),
                    ));
                }
            }
        }
    }

    /// Number of examples per (intent, locale); `None` intent = out of scope.
    pub fn counts(&self) -> HashMap<(Option<IntentName>, Locale), usize> {
        let mut counts = HashMap::new();
        for u in &self.examples {
            *counts
                .entry((u.intent.clone(), u.locale.clone()))
                .or_insert(0) += 1;
        }
        counts
    }
}

fn label(intent: &Option<IntentName>) -> String {
    intent
        .as_ref()
        .map_or_else(|| OUT_OF_SCOPE.to_string(), |n| n.to_string())
}

/// Two utterances that differ only in width, case or surrounding space are the same utterance.
pub fn dedup_key(text: &str) -> String {
    text.nfkc().collect::<String>().trim().to_lowercase()
}

/// Parses a YAML list of strings and pairs each item with its line, found from the `- ` that opens it.
/// A list item's text (`None` for an empty item) and its 1-based line.
pub(super) type Item = (Option<String>, Option<usize>);

pub(super) fn parse_items(text: &str) -> Result<Vec<Item>, serde_norway::Error> {
    let items: Option<Vec<Option<String>>> = serde_norway::from_str(text)?;
    let items = items.unwrap_or_default();
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "-" || l.starts_with("- "))
        .map(|(i, _)| i + 1)
        .collect();
    let aligned = lines.len() == items.len();
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, if aligned { Some(lines[i]) } else { None }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_carry_their_lines() {
        let text = "# comment\n- 注文した商品がまだ届きません\n\n- \"quoted: yes\"\n- 12345\n";
        let items = parse_items(text).expect("valid yaml");
        assert_eq!(
            items,
            vec![
                (Some("注文した商品がまだ届きません".into()), Some(2)),
                (Some("quoted: yes".into()), Some(4)),
                (Some("12345".into()), Some(5)),
            ]
        );
    }

    #[test]
    fn empty_file_is_an_empty_list() {
        assert!(parse_items("# nothing yet\n").expect("valid").is_empty());
    }

    #[test]
    fn dedup_ignores_width_and_case() {
        assert_eq!(dedup_key("ＭＤ１２３ Refund "), dedup_key("md123 refund"));
    }
}
