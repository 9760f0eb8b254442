//! Writing the catalog back, for the studio: appending labelled utterances to
//! `training-data/<locale>/<intent>.yaml` (and taking them out again on undo), and writing
//! `intents/<name>.yaml`.
//!
//! Training files are edited as text, never re-serialised: comments, blank lines and the order of
//! the existing items stay as they are, and an append is one `- …` line per utterance at the end,
//! so a diff shows exactly what the studio added. Every write goes to a temporary file renamed over
//! the old one, so a crash never leaves half a file.
use std::path::{Path, PathBuf};

use super::error::CatalogError;
use super::files::read;
use super::intent::Intent;
use crate::domain::{IntentName, Locale, OUT_OF_SCOPE};

/// The training file of `intent` (None: out of scope) in `locale`.
pub fn training_file(training_dir: &Path, locale: &Locale, intent: Option<&IntentName>) -> PathBuf {
    let stem = intent.map_or(OUT_OF_SCOPE, IntentName::as_str);
    training_dir
        .join(locale.as_str())
        .join(format!("{stem}.yaml"))
}

/// One utterance as a list item line (without the newline): plain when YAML reads it back as the
/// same text, else double-quoted with YAML escapes.
pub fn item_line(text: &str) -> String {
    let plain = format!("- {text}");
    // Read as the training loader reads it (`null`, `~` and an empty item are no text).
    let round_trips = serde_norway::from_str::<Vec<Option<String>>>(&plain)
        .is_ok_and(|items| items.len() == 1 && items[0].as_deref() == Some(text));
    if round_trips && !text.contains(['\n', '\r', '#']) && text.trim() == text {
        plain
    } else {
        format!("- {}", yaml_double_quoted(text))
    }
}

/// `text` as a YAML double-quoted scalar. Everything YAML does not allow raw in a stream (C0 and
/// C1 controls, surrogates' neighbours U+FFFE/U+FFFF, the BOM) and every line break YAML would fold
/// (U+0085, U+2028, U+2029) is escaped, so any text reads back exactly. (A JSON string is not
/// enough: JSON leaves C1 controls raw, and YAML refuses the whole file.)
fn yaml_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            c if yaml_printable(c) => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// YAML's `nb-char` minus the BOM: printable and not a line break.
fn yaml_printable(c: char) -> bool {
    matches!(c as u32, 0xA0..=0x2027 | 0x202A..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Utterances are single lines: newlines and tabs become spaces, runs of space one.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Appends `texts` (one line each) to the training file of `intent` in `locale`, creating it
/// (with a header comment) when missing. Returns the file.
pub fn append_examples(
    training_dir: &Path,
    locale: &Locale,
    intent: Option<&IntentName>,
    texts: &[String],
) -> Result<PathBuf, CatalogError> {
    let path = training_file(training_dir, locale, intent);
    let mut content = if path.exists() {
        read(&path)?
    } else {
        let label = intent.map_or(OUT_OF_SCOPE, IntentName::as_str);
        format!("# {label} ({locale}): customer messages, one per line\n")
    };
    if !content.is_empty() && !content.ends_with('\n') {
        content.push('\n');
    }
    for text in texts {
        content.push_str(&item_line(&one_line(text)));
        content.push('\n');
    }
    write_atomically(&path, &content)?;
    Ok(path)
}

/// Takes `texts` out of the training file again (for each, the last item with exactly that text),
/// leaving every other line as it was. Returns how many were found.
pub fn remove_examples(path: &Path, texts: &[String]) -> Result<usize, CatalogError> {
    if !path.exists() {
        return Ok(0);
    }
    let content = read(path)?;
    let mut lines: Vec<&str> = content.lines().collect();
    let mut removed = 0;
    for text in texts {
        let wanted = one_line(text);
        let found = lines
            .iter()
            .rposition(|line| item_text(line).as_deref() == Some(&wanted));
        if let Some(i) = found {
            lines.remove(i);
            removed += 1;
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    write_atomically(path, &out)?;
    Ok(removed)
}

/// The text of a `- item` line, as YAML reads it.
fn item_text(line: &str) -> Option<String> {
    if !line.starts_with("- ") {
        return None;
    }
    serde_norway::from_str::<Vec<Option<String>>>(line)
        .ok()
        .and_then(|mut items| (items.len() == 1).then(|| items.remove(0)))
        .flatten()
}

/// Writes `intents/<name>.yaml` from `intent`, keeping the comment lines that opened the old file.
pub fn write_intent(intents_dir: &Path, intent: &Intent) -> Result<PathBuf, CatalogError> {
    let path = intents_dir.join(format!("{}.yaml", intent.name));
    let header: String = if path.exists() {
        read(&path)?
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        String::new()
    };
    let body = serde_norway::to_string(intent).map_err(|e| {
        CatalogError::io(
            &path,
            std::io::Error::other(format!("cannot write YAML: {e}")),
        )
    })?;
    write_atomically(&path, &format!("{header}{body}"))?;
    Ok(path)
}

fn write_atomically(path: &Path, content: &str) -> Result<(), CatalogError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, content).map_err(|e| CatalogError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CatalogError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_plain_when_they_can_be_and_quoted_otherwise() {
        assert_eq!(item_line("cancel my order"), "- cancel my order");
        assert_eq!(
            item_line("注文番号は{order_id}です"),
            "- 注文番号は{order_id}です"
        );
        // serde_norway (the loader) reads YAML 1.2: `yes` is a string, so it stays plain.
        assert_eq!(item_line("yes"), "- yes");
        assert_eq!(item_line("order #123"), "- \"order #123\"");
        assert_eq!(item_line("key: value"), "- \"key: value\"");
        for text in [
            "yes",
            "12345",
            "key: value",
            "- dash",
            "{a}",
            "'q'",
            "\"dq\"",
            "さよならし\u{8e}ま\u{fff9}す",
            "nul \u{0} bell \u{7} del \u{7f} nel \u{85} ls \u{2028} bom \u{feff} \u{fffe} \\ \"",
            "𠮷 \u{10FFFF} \t tab",
            "null",
            "~",
            "Null",
        ] {
            let line = item_line(text);
            assert_eq!(item_text(&line).as_deref(), Some(text), "{line}");
        }
    }

    #[test]
    fn append_then_remove_restores_the_file_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let locale = Locale::parse("en").expect("locale");
        let intent = IntentName::try_from("thanks".to_string()).expect("name");
        let path = training_file(dir.path(), &locale, Some(&intent));
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        let original = "# thanks\n- thank you\n\n# short ones\n- thx\n";
        std::fs::write(&path, original).expect("write");
        let texts = vec!["thanks a lot".to_string(), "yes".to_string()];
        assert_eq!(item_text("- yes").as_deref(), Some("yes"));
        append_examples(dir.path(), &locale, Some(&intent), &texts).expect("append");
        let appended = std::fs::read_to_string(&path).expect("read");
        assert_eq!(appended, format!("{original}- thanks a lot\n- yes\n"));
        assert_eq!(remove_examples(&path, &texts).expect("remove"), 2);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
    }
}
