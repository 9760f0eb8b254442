//! The LINE channel's own words per locale (`intents/_line.yaml`): the greeting on follow, the
//! polite "please write in text", the CSAT question and its five buttons. Catalog data like the
//! rest of what the bot says; the copy in the repository is built in, and a `_line.yaml` in the
//! intents directory replaces it.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::Locale;

/// The file's name inside the intents directory.
pub const COPY_FILE: &str = "_line.yaml";

/// The built-in copy (the repository's `intents/_line.yaml`).
const BUILT_IN: &str = include_str!("../../../intents/_line.yaml");

/// One locale's lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lines {
    pub follow: String,
    pub text_only: String,
    pub too_long: String,
    pub csat_question: String,
    /// Five labels, for scores 1 to 5.
    pub csat_labels: Vec<String>,
    pub csat_thanks: String,
}

/// Every locale's lines and the fallback locale.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineCopy {
    fallback: Locale,
    locales: BTreeMap<Locale, Lines>,
}

impl LineCopy {
    /// `_line.yaml` from `intents_dir` if there is one, else the built-in copy. The error names the
    /// file and what is wrong.
    pub fn load(intents_dir: &Path) -> Result<LineCopy, String> {
        let path = intents_dir.join(COPY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::built_in(),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn built_in() -> Result<LineCopy, String> {
        Self::parse(BUILT_IN).map_err(|e| format!("the built-in {COPY_FILE}: {e}"))
    }

    fn parse(text: &str) -> Result<LineCopy, String> {
        let copy: LineCopy = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if !copy.locales.contains_key(&copy.fallback) {
            return Err(format!(
                "the fallback locale {} has no lines",
                copy.fallback
            ));
        }
        for (locale, lines) in &copy.locales {
            if lines.csat_labels.len() != 5 {
                return Err(format!(
                    "{locale}: csat_labels needs 5 labels (scores 1 to 5)"
                ));
            }
        }
        Ok(copy)
    }

    /// The lines for `locale` (its language if only that is known), else the fallback's.
    pub fn lines(&self, locale: Option<&Locale>) -> &Lines {
        let exact = locale.and_then(|l| self.locales.get(l.as_str()));
        let language = locale
            .and_then(|l| l.as_str().split('-').next())
            .and_then(|lang| self.locales.get(lang));
        exact
            .or(language)
            .or_else(|| self.locales.get(self.fallback.as_str()))
            .expect("the fallback locale has lines (checked on load; this is a bug)")
    }

    /// The locale the channel speaks when the conversation has none yet.
    pub fn fallback(&self) -> &Locale {
        &self.fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_copy_has_japanese_and_english() {
        let copy = LineCopy::built_in().expect("built-in");
        assert_eq!(copy.fallback().as_str(), "ja");
        let en = Locale::parse("en-US").expect("locale");
        assert!(copy.lines(Some(&en)).follow.contains("friend"));
        assert!(copy.lines(None).follow.contains("友だち"));
        let fr = Locale::parse("fr").expect("locale");
        assert!(copy.lines(Some(&fr)).text_only.contains("文字"));
    }

    #[test]
    fn a_broken_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(COPY_FILE), "fallback: ja\nlocales: {}\n").expect("write");
        let err = LineCopy::load(dir.path()).expect_err("no lines");
        assert!(err.contains(COPY_FILE) && err.contains("fallback"), "{err}");
    }
}
