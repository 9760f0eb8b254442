//! Import of Rasa NLU training data (`nlu.yml`, Rasa 2.x/3.x) so Rasa users can move over.
//!
//! Intents and their examples go to `training-data/<locale>/<intent>.yaml` (merged with what is
//! there, duplicates skipped); intents the catalog lacks get an `intents/<name>.yaml`, with templates
//! taken from the `utter_<intent>` responses of `domain.yml` when one is given. Entity annotations
//! (`[Berlin](city)`, `[Berlin]{"entity": "city"}`) are reduced to their text.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{CatalogError, Problem};
use super::files::read;
use super::intent::{HandoffMode, Intent, VariableSpec};
use crate::domain::{IntentName, Locale, OUT_OF_SCOPE};

#[derive(Debug, Deserialize)]
struct NluFile {
    #[serde(default)]
    nlu: Vec<NluItem>,
}

#[derive(Debug, Deserialize)]
struct NluItem {
    intent: Option<String>,
    #[serde(default)]
    examples: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DomainFile {
    #[serde(default)]
    responses: BTreeMap<String, Vec<DomainResponse>>,
}

#[derive(Debug, Deserialize)]
struct DomainResponse {
    text: Option<String>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub intents_seen: usize,
    pub examples_added: usize,
    pub duplicates_skipped: usize,
    pub intents_created: Vec<String>,
    pub renamed: Vec<(String, String)>,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} intents: {} examples added, {} duplicates skipped, {} new intent file(s)",
            self.intents_seen,
            self.examples_added,
            self.duplicates_skipped,
            self.intents_created.len()
        )?;
        for (from, to) in &self.renamed {
            write!(
                f,
                "\n  renamed Rasa intent {from:?} to {to:?} (madoguchi names are lower_snake_case)"
            )?;
        }
        Ok(())
    }
}

/// Imports `nlu` (and optionally `domain`) for `locale` into the catalog directories.
pub fn import(
    nlu: &Path,
    domain: Option<&Path>,
    locale: &str,
    intents_dir: &Path,
    training_dir: &Path,
) -> Result<ImportSummary, CatalogError> {
    let locale = Locale::parse(locale).map_err(|_| {
        invalid(
            nlu,
            None,
            format!("locale {locale:?} is not a language code like `en`"),
        )
    })?;
    let parsed: NluFile = parse_yaml(nlu, "not a Rasa NLU file")?;
    let responses = match domain {
        Some(d) => parse_yaml::<DomainFile>(d, "not a Rasa domain file")?.responses,
        None => BTreeMap::new(),
    };
    let locale_dir = training_dir.join(locale.as_str());
    std::fs::create_dir_all(&locale_dir).map_err(|e| CatalogError::io(&locale_dir, e))?;
    let target = Target {
        nlu,
        locale: &locale,
        locale_dir: &locale_dir,
        intents_dir,
        responses: &responses,
    };
    let mut summary = ImportSummary::default();
    for item in parsed.nlu {
        let (Some(rasa_name), Some(examples)) = (item.intent, item.examples) else {
            continue; // synonyms, regexes, lookups: nothing to import
        };
        target.import_intent(&rasa_name, &examples, &mut summary)?;
    }
    Ok(summary)
}

fn invalid(path: &Path, line: Option<usize>, message: String) -> CatalogError {
    CatalogError::Invalid(vec![Problem::new(path, line, message)])
}

/// Reads and parses one Rasa YAML file; `what` says what it should have been.
fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, CatalogError> {
    serde_norway::from_str(&read(path)?)
        .map_err(|e| invalid(path, e.location().map(|l| l.line()), format!("{what}: {e}")))
}

/// Where one import writes, and the Rasa responses it turns into templates.
struct Target<'a> {
    nlu: &'a Path,
    locale: &'a Locale,
    locale_dir: &'a Path,
    intents_dir: &'a Path,
    responses: &'a BTreeMap<String, Vec<DomainResponse>>,
}

impl Target<'_> {
    /// Merges one Rasa intent's examples into the training data and, for a new intent, writes its
    /// intent file with the `utter_<intent>` responses as templates.
    fn import_intent(
        &self,
        rasa_name: &str,
        examples: &str,
        summary: &mut ImportSummary,
    ) -> Result<(), CatalogError> {
        let locale = self.locale.as_str();
        let name = snake_case(rasa_name);
        if name != rasa_name {
            summary.renamed.push((rasa_name.to_string(), name.clone()));
        }
        summary.intents_seen += 1;
        let new_examples: Vec<String> = examples
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('-'))
            .map(|l| strip_entities(l.trim()))
            .filter(|l| !l.is_empty())
            .collect();
        let file = self.locale_dir.join(format!("{name}.yaml"));
        let (added, skipped) = merge_examples(&file, &name, locale, &new_examples)?;
        summary.examples_added += added;
        summary.duplicates_skipped += skipped;
        let intent_file = self.intents_dir.join(format!("{name}.yaml"));
        if name == OUT_OF_SCOPE || intent_file.exists() {
            return Ok(());
        }
        let templates = self
            .responses
            .get(&format!("utter_{rasa_name}"))
            .map(|list| list.iter().filter_map(|r| r.text.clone()).collect())
            .unwrap_or_default();
        write_intent(&intent_file, &name, self.nlu, locale, templates)?;
        summary.intents_created.push(name);
        Ok(())
    }
}

fn merge_examples(
    file: &Path,
    name: &str,
    locale: &str,
    new: &[String],
) -> Result<(usize, usize), CatalogError> {
    let mut items: Vec<String> = if file.exists() {
        serde_norway::from_str::<Option<Vec<String>>>(&read(file)?)
            .map_err(|e| {
                CatalogError::Invalid(vec![Problem::new(file, None, format!("invalid YAML: {e}"))])
            })?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let (mut added, mut skipped) = (0, 0);
    for e in new {
        if items.iter().any(|i| i == e) {
            skipped += 1;
        } else {
            items.push(e.clone());
            added += 1;
        }
    }
    let body = serde_norway::to_string(&items)
        .map_err(|e| CatalogError::Invalid(vec![Problem::new(file, None, e.to_string())]))?;
    let text = format!("# {name} ({locale}), imported from Rasa\n{body}");
    std::fs::write(file, text).map_err(|e| CatalogError::io(file, e))?;
    Ok((added, skipped))
}

fn write_intent(
    path: &Path,
    name: &str,
    source: &Path,
    locale: &str,
    templates: Vec<String>,
) -> Result<(), CatalogError> {
    // Rasa writes variables as {name}; minijinja wants {{ name }}.
    let mut variables = BTreeMap::new();
    let templates: Vec<String> = templates
        .into_iter()
        .map(|t| convert_rasa_variables(&t, &mut variables))
        .collect();
    let intent = Intent {
        name: IntentName::try_from(name.to_string())
            .map_err(|e| CatalogError::Invalid(vec![Problem::new(path, None, e)]))?,
        description: format!(
            "Imported from Rasa ({}); describe what the customer wants.",
            source.display()
        ),
        handoff: HandoffMode::Auto,
        answered_when: Default::default(),
        threshold: None,
        variables,
        follow_up: BTreeMap::new(),
        templates: BTreeMap::from([(locale.to_string(), templates)]),
        source: PathBuf::new(),
    };
    let text = serde_norway::to_string(&intent)
        .map_err(|e| CatalogError::Invalid(vec![Problem::new(path, None, e.to_string())]))?;
    std::fs::write(path, text).map_err(|e| CatalogError::io(path, e))
}

/// Rasa writes variables as `{name}`; minijinja wants `{{ name }}`. Everything else is text, kept
/// verbatim: a `{` that would open a minijinja tag (before `{`, `%`, `#` or a converted variable)
/// is written as the expression `{{ "{" }}`, so Rasa text such as `{{` or `{%` never becomes
/// template syntax.
fn convert_rasa_variables(template: &str, vars: &mut BTreeMap<String, VariableSpec>) -> String {
    let pieces = rasa_pieces(template);
    let mut out = String::new();
    for (k, piece) in pieces.iter().enumerate() {
        match piece {
            RasaPiece::Var(var) => {
                out.push_str(&format!("{{{{ {var} }}}}"));
                vars.entry(var.to_string()).or_default();
            }
            RasaPiece::Text(text) => {
                let after = pieces.get(k + 1).map(|_| '{');
                let mut chars = text.chars().peekable();
                while let Some(c) = chars.next() {
                    let next = chars.peek().copied().or(after);
                    if c == '{' && matches!(next, Some('{' | '%' | '#')) {
                        out.push_str("{{ \"{\" }}");
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// Text and `{variable}` pieces of a Rasa response, alternating, text first and last.
enum RasaPiece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn rasa_pieces(template: &str) -> Vec<RasaPiece<'_>> {
    let mut pieces = Vec::new();
    let (mut text_start, mut i) = (0, 0);
    while let Some(rel) = template[i..].find('{') {
        let start = i + rel;
        let after = &template[start + 1..];
        match after.find('}') {
            Some(end) if is_identifier(&after[..end]) => {
                pieces.push(RasaPiece::Text(&template[text_start..start]));
                pieces.push(RasaPiece::Var(&after[..end]));
                i = start + end + 2;
                text_start = i;
            }
            _ => i = start + 1,
        }
    }
    pieces.push(RasaPiece::Text(&template[text_start..]));
    pieces
}

/// A name minijinja reads as a variable: a letter or `_` first (`{1000}` stays text), and not one
/// of its literals or operators (`{none}`, `{not}` stay text).
fn is_identifier(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if",
        "else", "loop", "self",
    ];
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&s)
}

/// `ask-weather`, `MoodGreat` → `ask_weather`, `moodgreat`; a leading digit gets an `intent_` prefix.
fn snake_case(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    if s.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        s
    } else {
        format!("intent_{s}")
    }
}

/// `[Berlin](city)` / `[Berlin]{"entity": "city"}` / `[Berlin](city:BER)` → `Berlin`.
fn strip_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find(']') else {
            break;
        };
        let close = open + close_rel;
        let after = &rest[close + 1..];
        let skip = match after.chars().next() {
            Some('(') => after.find(')').map(|i| i + 1),
            Some('{') => after.find('}').map(|i| i + 1),
            _ => None,
        };
        match skip {
            Some(n) => {
                out.push_str(&rest[..open]);
                out.push_str(&rest[open + 1..close]);
                rest = &after[n..];
            }
            None => {
                out.push_str(&rest[..=close]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_reduced_to_text() {
        assert_eq!(
            strip_entities("fly to [Berlin](city) now"),
            "fly to Berlin now"
        );
        assert_eq!(
            strip_entities("[Tokyo]{\"entity\": \"city\"} please"),
            "Tokyo please"
        );
        assert_eq!(strip_entities("a [bracket] stays"), "a [bracket] stays");
    }

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake_case("ask-weather"), "ask_weather");
        assert_eq!(snake_case("Mood Great!"), "mood_great");
        assert_eq!(snake_case("42things"), "intent_42things");
    }

    #[test]
    fn rasa_variables_become_minijinja() {
        let mut vars = BTreeMap::new();
        assert_eq!(
            convert_rasa_variables("Hi {name}, {not a var} {1000} {none}", &mut vars),
            "Hi {{ name }}, {not a var} {1000} {none}"
        );
        assert!(vars.contains_key("name"));
        assert_eq!(
            convert_rasa_variables("{{name}} {% raw %} {#x#} {{ a }}", &mut vars),
            "{{ \"{\" }}{{ name }}} {{ \"{\" }}% raw %} {{ \"{\" }}#x#} {{ \"{\" }}{ a }}"
        );
    }

    #[test]
    fn imports_and_merges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nlu = dir.path().join("nlu.yml");
        std::fs::write(
            &nlu,
            "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - hey\n    - hello [Ann](name)\n- synonym: x\n  examples: |\n    - y\n",
        )
        .expect("write");
        let domain = dir.path().join("domain.yml");
        std::fs::write(
            &domain,
            "responses:\n  utter_greet:\n  - text: \"Hello {name}!\"\n",
        )
        .expect("write");
        let intents = dir.path().join("intents");
        let training = dir.path().join("training-data");
        std::fs::create_dir_all(&intents).expect("mkdir");
        let s = import(&nlu, Some(&domain), "en", &intents, &training).expect("import");
        assert_eq!((s.intents_seen, s.examples_added), (1, 2));
        let again = import(&nlu, None, "en", &intents, &training).expect("import");
        assert_eq!((again.examples_added, again.duplicates_skipped), (0, 2));
        let items: Vec<String> = serde_norway::from_str(
            &std::fs::read_to_string(training.join("en/greet.yaml")).expect("read"),
        )
        .expect("yaml");
        assert_eq!(items, vec!["hey", "hello Ann"]);
        let intent: Intent = serde_norway::from_str(
            &std::fs::read_to_string(intents.join("greet.yaml")).expect("read"),
        )
        .expect("yaml");
        assert_eq!(intent.templates["en"], vec!["Hello {{ name }}!"]);
        assert!(super::super::check_templates(&Intent {
            source: intents.join("greet.yaml"),
            ..intent
        })
        .is_empty());
    }
}
