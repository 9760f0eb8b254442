//! Word matching shared by the signals and the context rules: messages and word lists are folded
//! (NFKC, lower case, one space between words); ASCII terms match whole words only ("agent" does
//! not match "agents'" … but does match "agent!"), other terms anywhere.
use unicode_normalization::UnicodeNormalization;

/// NFKC, lower case, whitespace runs as one space.
pub fn fold(text: &str) -> String {
    let lower = text.nfkc().collect::<String>().to_lowercase();
    lower.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A list of words and phrases.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    terms: Vec<String>,
}

impl Lexicon {
    pub fn new<'a>(words: impl IntoIterator<Item = &'a String>) -> Self {
        let mut terms: Vec<String> = words
            .into_iter()
            .map(|w| fold(w))
            .filter(|w| !w.is_empty())
            .collect();
        terms.sort();
        terms.dedup();
        Self { terms }
    }

    /// The terms found in `folded` (a [`fold`]ed message).
    pub fn found<'a>(&'a self, folded: &str) -> Vec<&'a str> {
        self.terms
            .iter()
            .filter(|t| contains_term(folded, t))
            .map(String::as_str)
            .collect()
    }

    pub fn any(&self, folded: &str) -> bool {
        self.terms.iter().any(|t| contains_term(folded, t))
    }
}

fn contains_term(text: &str, term: &str) -> bool {
    text.match_indices(term)
        .any(|(i, _)| is_whole(text, i, term))
}

/// Whether `term` found at byte `i` of `text` stands on its own (always, for non-ASCII terms).
fn is_whole(text: &str, i: usize, term: &str) -> bool {
    if !term.is_ascii() {
        return true;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !word(text[..i].chars().next_back()) && !word(text[i + term.len()..].chars().next())
}

/// Blanks every occurrence of `terms` in the folded `text` (whole words for ASCII terms); true
/// when one was there. Give longer terms first, so that "お支払い" goes before "支払い".
pub fn remove_terms(text: &mut String, terms: &[String]) -> bool {
    let mut removed = false;
    for term in terms.iter().filter(|t| !t.is_empty()) {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (i, _) in text.match_indices(term.as_str()) {
            if i < last || !is_whole(text, i, term) {
                continue;
            }
            out.push_str(&text[last..i]);
            out.push(' ');
            last = i + term.len();
            removed = true;
        }
        out.push_str(&text[last..]);
        *text = out;
    }
    removed
}
