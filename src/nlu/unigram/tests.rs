//! The compact model against the crate's `Unigram` on small vocabularies: the same tokens, ids,
//! offsets and errors (the real 250k vocabulary is compared in `tests/unigram.rs`).
use tokenizers::models::unigram::Unigram;
use tokenizers::Model;

use super::{CompactUnigram, UnigramError};

fn both(vocab: &[(&str, f64)], unk_id: Option<usize>) -> (Unigram, CompactUnigram) {
    let owned = vocab.iter().map(|&(p, s)| (p.to_string(), s)).collect();
    let crate_model = Unigram::from(owned, unk_id, false).expect("crate model");
    let compact = CompactUnigram::from_vocab(vocab.iter().copied(), unk_id).expect("compact");
    (crate_model, compact)
}

fn assert_same(crate_model: &Unigram, compact: &CompactUnigram, text: &str) {
    let expected = crate_model.tokenize(text).map_err(|e| e.to_string());
    let actual = compact.tokenize(text).map_err(|e| e.to_string());
    assert_eq!(
        actual.is_ok(),
        expected.is_ok(),
        "{text:?}: {actual:?} vs {expected:?}"
    );
    if let (Ok(a), Ok(e)) = (actual, expected) {
        assert_eq!(a, e, "{text:?}");
    }
}

const DOC_VOCAB: [(&str, f64); 9] = [
    ("<unk>", 0.0),
    ("a", 0.0),
    ("b", 0.0),
    ("c", 0.0),
    ("d", 0.0),
    ("cd", 1.0),
    ("ab", 2.0),
    ("abc", 5.0),
    ("abcd", 10.0),
];

#[test]
fn the_crate_doc_example_gives_the_same_tokens() {
    let (crate_model, compact) = both(&DOC_VOCAB, Some(0));
    let tokens = compact.tokenize("abcdacdxx").expect("tokenize");
    let values: Vec<&str> = tokens.iter().map(|t| t.value.as_str()).collect();
    assert_eq!(values, ["abcd", "a", "cd", "xx"]);
    assert_eq!(tokens[3].id, 0, "the fused unknown run is <unk>");
    for text in [
        "",
        "a",
        "x",
        "abcdacdxx",
        "xaxbx",
        "<unk>",
        "x<unk>y",
        "dcba",
        "ééaé",
    ] {
        assert_same(&crate_model, &compact, text);
    }
}

#[test]
fn a_duplicated_piece_maps_to_its_last_id_as_in_the_crate() {
    let vocab = [
        ("<unk>", 0.0),
        ("ab", -1.0),
        ("a", -2.0),
        ("ab", -3.0),
        ("b", -1.0),
    ];
    let (crate_model, compact) = both(&vocab, Some(0));
    assert_eq!(compact.token_to_id("ab"), Some(3));
    assert_eq!(compact.token_to_id("ab"), crate_model.token_to_id("ab"));
    for text in ["ab", "aab", "abab", "ba"] {
        assert_same(&crate_model, &compact, text);
    }
}

#[test]
fn without_unk_id_an_unknown_character_is_an_error_in_both() {
    let (crate_model, compact) = both(&[("a", -1.0), ("b", -1.0)], None);
    assert_same(&crate_model, &compact, "ab");
    assert!(compact.tokenize("abz").is_err());
    assert!(crate_model.tokenize("abz").is_err());
}

#[test]
fn bad_vocabularies_are_refused() {
    let empty: [(&str, f64); 0] = [];
    assert!(matches!(
        CompactUnigram::from_vocab(empty, Some(0)),
        Err(UnigramError::EmptyVocabulary)
    ));
    assert!(matches!(
        CompactUnigram::from_vocab([("a", 0.0)], Some(1)),
        Err(UnigramError::UnkIdNotInVocabulary(1))
    ));
    let json = r#"{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0]],"byte_fallback":true}"#;
    let err = serde_json::from_str::<CompactUnigram>(json).expect_err("byte_fallback");
    assert!(err.to_string().contains("byte_fallback"), "{err}");
    let json = r#"{"type":"BPE","vocab":[]}"#;
    assert!(serde_json::from_str::<CompactUnigram>(json).is_err());
}

#[test]
fn the_vocabulary_views_match_the_crate() {
    let (crate_model, compact) = both(&DOC_VOCAB, Some(0));
    assert_eq!(compact.get_vocab(), crate_model.get_vocab());
    assert_eq!(compact.get_vocab_size(), crate_model.get_vocab_size());
    for id in 0..10 {
        assert_eq!(compact.id_to_token(id), crate_model.id_to_token(id));
    }
    assert_eq!(compact.token_to_id("zz"), None);
}

#[test]
fn a_saved_model_reads_back_with_the_crate_and_with_ours() {
    let (crate_model, compact) = both(&DOC_VOCAB, Some(0));
    let json = serde_json::to_string(&compact).expect("serialize");
    assert_eq!(json, serde_json::to_string(&crate_model).expect("crate"));
    let again: CompactUnigram = serde_json::from_str(&json).expect("read back");
    assert_eq!(again, compact);
}

/// A small deterministic generator (xorshift) for the random vocabularies below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn word(&mut self, alphabet: &[char], max: usize) -> String {
        let len = 1 + self.below(max);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

#[test]
fn random_vocabularies_and_texts_tokenise_as_the_crate_does() {
    // Few letters, many overlapping pieces, multi-byte characters, ties in score, duplicates.
    let alphabet = ['a', 'b', 'c', 'é', '日', '▁', '😀'];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let mut vocab: Vec<(String, f64)> = vec![("<unk>".into(), 0.0)];
        for _ in 0..1 + rng.below(40) {
            let score = -((rng.below(8) as f64) * 0.5);
            vocab.push((rng.word(&alphabet[..6], 4), score));
        }
        let unk = (round % 3 != 0).then_some(0);
        let pieces: Vec<(&str, f64)> = vocab.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let (crate_model, compact) = both(&pieces, unk);
        for _ in 0..20 {
            let text = rng.word(&alphabet, 24);
            assert_same(&crate_model, &compact, &text);
        }
    }
}
