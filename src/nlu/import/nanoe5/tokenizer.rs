//! `tokenizer.json` that reproduces the package's own tokenizer (`tok_content` in `e5.c`)
//! with stock `tokenizers` components.
//!
//! The C pipeline: map every code point through the file's per-code-point table (NFKC per
//! character, controls deleted, whitespace variants → `' '`); collapse runs of `' '`; prepend
//! `' '` unless the text starts with one; `' '` → `▁`; one Viterbi pass over the whole string
//! with the piece scores, where a character no piece starts with becomes its own `<unk>`
//! (score = lowest piece score − 10); then `<s> … </s>`.
//!
//! The construction, and why each step is there:
//!
//! 1. **`Replace` (regex `(?<=[\s\S])` → marker)** inserts a control character (one the table
//!    deletes, U+0001 for this package) after every character. `Precompiled` below works on
//!    grapheme clusters: a cluster shorter than 6 bytes is looked up *as a whole*, and the
//!    lookup returns the shortest table key that prefixes it, so the whole cluster is replaced
//!    by its first code point's mapping. `Ａ` + U+0301 would become `A` (accent lost) where the
//!    C code gives `A` + U+0301; so would NBSP + a combining mark, half-width katakana + U+0301,
//!    and so on. Controls are grapheme boundaries on both sides (UAX #29 GB4/GB5 come before
//!    the extend rules), so with a marker between every two characters each cluster is one
//!    code point and `Precompiled` becomes exactly a per-code-point map. Clusters of 6 bytes
//!    or more are already mapped per code point, which is why `ｶﾞ` (U+FF76 U+FF9E → カ U+3099),
//!    ZWJ emoji sequences and skin-tone modifiers were never affected.
//! 2. **`Precompiled`** holds the file's table verbatim as a SentencePiece charsmap (built by
//!    [`crate::nlu::import::charsmap`]); it maps each character and deletes the markers.
//! 3. **`Replace(" {2,}" → " ")`**: the C space collapse.
//! 4. **`Metaspace('▁', prepend_scheme = always, split = false)`**: `' '` → `▁`, prefix `▁`
//!    unless present, and no split, so Viterbi sees the whole string as in C.
//! 5. **`Split([^known], Isolated)`**: the Hugging Face `Unigram` always fuses consecutive
//!    `<unk>` tokens into one (`fuse_unk` is not configurable); the C code emits one `<unk>` per
//!    character. A character that occurs in no piece can only ever be covered by a single-char
//!    `<unk>`, so cutting the text around it changes no segmentation, and `Unigram` then sees
//!    each such character alone and cannot fuse it. In this package every character that occurs
//!    in a piece is also a piece by itself, so "unknown" is exactly "in no piece" and the
//!    isolation is exact (the count of exceptions is recorded in `import.json`).
//! 6. **`Unigram`** with the file's pieces and scores (f32 values widened exactly), `unk_id`.
//! 7. **`TemplateProcessing("<s> $A </s>")`**, the four specials as special added tokens.
//!
//! Remaining differences, all exotic (also listed in `import.json`):
//! - special-token text typed by a user (`<s>`, `</s>`, `<pad>`, `<unk>`) is split out as
//!   that special token by `tokenizers`, and the text after it gets its own `▁`; the C code
//!   matches `<s>`/`</s>`/`<pad>` as ordinary pieces and spells `<unk>` out. With
//!   `Tokenizer::set_encode_special_tokens(true)` only literal `<unk>` differs.
//! - scores are summed in f64 here and in f32 in C, so two segmentations whose totals tie
//!   within f32 rounding could be resolved differently (none seen in 86k test strings);
//! - a text that normalises to nothing gets no `▁` here (C: one `▁`), which the `query: `
//!   prefix makes unreachable;
//! - U+0000: C stops at it (C string), `tokenizers` reads on.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{Precompiled, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::error::ImportError;
use super::format::Vocab;
use crate::nlu::import::charsmap;

/// SentencePiece's word-boundary marker.
pub const METASPACE: char = '\u{2581}';

/// Facts about the construction, recorded in `import.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenizerNotes {
    pub pieces: usize,
    pub normalization_entries: usize,
    /// The control character inserted between characters (see the module docs).
    pub grapheme_marker: String,
    /// Distinct characters occurring in some matchable piece.
    pub known_chars: usize,
    /// Code-point ranges of the isolated "in no piece" class.
    pub known_char_ranges: usize,
    /// Characters that occur in a piece but are not a piece by themselves: where two such
    /// characters end up as adjacent `<unk>`s, `tokenizers` fuses them and C does not.
    pub chars_without_single_piece: usize,
}

/// Builds the tokenizer for `vocab` and the per-code-point `norm_map`.
pub fn build(
    vocab: &Vocab<'_>,
    norm_map: &[(char, String)],
    path: &Path,
) -> Result<(Tokenizer, TokenizerNotes), ImportError> {
    let fail = |message: String| tokenizer_error(path, message);
    let marker = grapheme_marker(norm_map).ok_or_else(|| {
        fail("the normalisation map deletes no control character, so no grapheme marker is available".into())
    })?;
    let normalizer = normalizer(norm_map, marker, path)?;
    let (known, single) = piece_chars(vocab);
    let (unknown_class, ranges) = negated_class(&known);
    let pre_tokenizer = pre_tokenizer(unknown_class, path)?;

    // 6–7: model, specials, post-processor, decoder.
    let unk = vocab.unk as usize;
    let scored: Vec<(String, f64)> = vocab
        .pieces
        .iter()
        .zip(&vocab.scores)
        .map(|(piece, &score)| (piece.to_string(), f64::from(score)))
        .collect();
    let model = Unigram::from(scored, Some(unk), false).map_err(|e| fail(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(normalizer))
        .with_pre_tokenizer(Some(pre_tokenizer))
        .with_post_processor(Some(post_processor(vocab, path)?))
        .with_decoder(Some(Metaspace::new(METASPACE, PrependScheme::Always, true)));
    tokenizer.add_special_tokens(&special_tokens(vocab));

    let notes = TokenizerNotes {
        pieces: vocab.pieces.len(),
        normalization_entries: norm_map.len(),
        grapheme_marker: format!("U+{:04X}", marker as u32),
        known_chars: known.len(),
        known_char_ranges: ranges,
        chars_without_single_piece: known.difference(&single).count(),
    };
    Ok((tokenizer, notes))
}

fn tokenizer_error(path: &Path, message: String) -> ImportError {
    ImportError::Tokenizer {
        path: path.to_owned(),
        message,
    }
}

/// Steps 1–3: grapheme markers, the file's map as a precompiled charsmap, the space collapse.
fn normalizer(
    norm_map: &[(char, String)],
    marker: char,
    path: &Path,
) -> Result<NormalizerSequence, ImportError> {
    let fail = |message: String| tokenizer_error(path, message);
    let mut entries = Vec::with_capacity(norm_map.len());
    for (c, replacement) in norm_map {
        if *c == '\0' {
            continue; // unreachable in C: its input is a NUL-terminated string
        }
        if replacement.contains('\0') {
            return Err(fail(format!(
                "U+{:04X} maps to a string containing NUL",
                *c as u32
            )));
        }
        entries.push((c.to_string(), replacement.as_str()));
    }
    let charsmap = charsmap::precompiled_charsmap(&entries).map_err(|e| fail(e.to_string()))?;
    let precompiled = Precompiled::from(&charsmap).map_err(|e| fail(e.to_string()))?;
    let insert_markers = Replace::new(ReplacePattern::Regex(r"(?<=[\s\S])".into()), marker)
        .map_err(|e| fail(e.to_string()))?;
    let collapse_spaces = Replace::new(ReplacePattern::Regex(" {2,}".into()), " ")
        .map_err(|e| fail(e.to_string()))?;
    Ok(NormalizerSequence::new(vec![
        insert_markers.into(),
        precompiled.into(),
        collapse_spaces.into(),
    ]))
}

/// The characters of every piece but `<unk>` (which C never matches), and those that are a piece
/// on their own.
fn piece_chars(vocab: &Vocab<'_>) -> (BTreeSet<char>, BTreeSet<char>) {
    let mut known = BTreeSet::new();
    let mut single = BTreeSet::new();
    for (id, piece) in vocab.pieces.iter().enumerate() {
        if id == vocab.unk as usize {
            continue;
        }
        known.extend(piece.chars());
        let mut chars = piece.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            single.insert(c);
        }
    }
    (known, single)
}

/// Steps 4–5: Metaspace, then each character in no piece split out on its own.
fn pre_tokenizer(unknown_class: String, path: &Path) -> Result<PreTokenizerSequence, ImportError> {
    let isolate_unknown = Split::new(
        SplitPattern::Regex(unknown_class),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| tokenizer_error(path, e.to_string()))?;
    Ok(PreTokenizerSequence::new(vec![
        Metaspace::new(METASPACE, PrependScheme::Always, false).into(),
        isolate_unknown.into(),
    ]))
}

/// `<s> $A </s>` (and the pair form) with the file's ids.
fn post_processor(vocab: &Vocab<'_>, path: &Path) -> Result<TemplateProcessing, ImportError> {
    let fail = |e: String| tokenizer_error(path, format!("template: {e}"));
    let (bos, eos) = (
        vocab.pieces[vocab.bos as usize],
        vocab.pieces[vocab.eos as usize],
    );
    TemplateProcessing::builder()
        .try_single(format!("{bos} $A {eos}"))
        .and_then(|b| b.try_pair(format!("{bos} $A {eos} {eos} $B {eos}")))
        .map_err(|e| fail(e.to_string()))?
        .special_tokens(vec![(bos, vocab.bos), (eos, vocab.eos)])
        .build()
        .map_err(|e| fail(e.to_string()))
}

/// `<s>`, `<pad>`, `</s>` and `<unk>` as special added tokens, each once.
fn special_tokens(vocab: &Vocab<'_>) -> Vec<AddedToken> {
    let mut specials: Vec<u32> = vec![vocab.bos, vocab.pad, vocab.eos, vocab.unk];
    specials.sort_unstable();
    specials.dedup();
    specials
        .into_iter()
        .map(|id| AddedToken::from(vocab.pieces[id as usize], true))
        .collect()
}

/// A control character (grapheme boundary on both sides) that the table deletes.
fn grapheme_marker(norm_map: &[(char, String)]) -> Option<char> {
    let deleted = |c: char| {
        norm_map
            .binary_search_by_key(&c, |(k, _)| *k)
            .is_ok_and(|i| norm_map[i].1.is_empty())
    };
    ('\u{1}'..='\u{8}')
        .chain('\u{E}'..='\u{1F}')
        .chain(std::iter::once('\u{7F}'))
        .find(|&c| deleted(c))
}

/// An Oniguruma class matching every character outside `known`, and its range count.
fn negated_class(known: &BTreeSet<char>) -> (String, usize) {
    let mut ranges: Vec<(char, char)> = Vec::new();
    for &c in known {
        match ranges.last_mut() {
            Some((_, end)) if (*end as u32) + 1 == c as u32 => *end = c,
            _ => ranges.push((c, c)),
        }
    }
    if ranges.is_empty() {
        return (r"[\s\S]".into(), 0); // nothing is known: every character is isolated
    }
    let mut class = String::from("[^");
    for &(start, end) in &ranges {
        let _ = write!(class, "\\x{{{:X}}}", start as u32);
        if end != start {
            let _ = write!(class, "-\\x{{{:X}}}", end as u32);
        }
    }
    class.push(']');
    (class, ranges.len())
}
