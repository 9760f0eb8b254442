//! A compact Unigram (SentencePiece) model for the `tokenizers` pipeline.
//!
//! The `tokenizers` crate's `Unigram` keeps a 250k-piece vocabulary as a trie with a hash map of
//! children per node, a `Vec<(String, f64)>` and a `HashMap<String, u32>`: about 280 MiB resident
//! for multilingual-e5-small, more than the int8 encoder itself. [`CompactUnigram`] holds the same
//! vocabulary in a few flat arrays: every piece in one byte arena with offsets, the scores, and the
//! ids ordered by piece bytes (for id lookups), plus a double-array Aho-Corasick automaton
//! (`daachorse`, charwise) that finds every piece occurring in a word in one pass: the lattice the
//! crate's trie builds one start position at a time (21 MiB for multilingual-e5-small).
//!
//! It plugs into the crate's `TokenizerImpl` as the model only (normalizer, pre-tokenizer,
//! post-processor, truncation stay the crate's) and reproduces the crate's `Unigram` exactly: the
//! same Viterbi (`encode_optimized`: candidates by increasing length, a strictly better score
//! replaces, an `<unk>` node of one character where no single-character piece exists, scored
//! `min_score - 10`), unknown runs fused, and token ids looked up the same way (a duplicated piece
//! maps to its last id, as the crate's hash map does). `byte_fallback` is not supported; such
//! files are refused so the caller keeps the crate's model. There is no per-word cache (the crate
//! keeps up to 10,000 words): the search is cheap next to the encoder.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Token, TokenizerImpl, Trainer,
};

/// The crate's `K_UNK_PENALTY`: an unknown character scores this much below the worst piece.
const UNK_PENALTY: f64 = 10.0;

/// The crate's pipeline with [`CompactUnigram`] as its model.
pub type CompactTokenizer = TokenizerImpl<
    CompactUnigram,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// Why a vocabulary cannot make a [`CompactUnigram`], or a text cannot be tokenised by it.
#[derive(Debug, thiserror::Error)]
pub enum UnigramError {
    #[error("the vocabulary is empty but at least <unk> is needed")]
    EmptyVocabulary,
    #[error("unk_id {0} is outside the vocabulary")]
    UnkIdNotInVocabulary(usize),
    #[error("an unknown character needs <unk>, but the model has no unk_id")]
    MissingUnkId,
    #[error("byte_fallback is not supported by the compact Unigram model")]
    ByteFallback,
    #[error("the vocabulary is larger than 4 GiB")]
    TooLarge,
    #[error("the compact Unigram model is for inference only: it cannot be trained")]
    NotTrainable,
    #[error("cannot build the piece automaton: {0}")]
    Automaton(String),
}

/// A Unigram vocabulary in flat arrays; tokenises exactly as `tokenizers::models::unigram::Unigram`.
#[derive(Clone)]
pub struct CompactUnigram {
    /// Every piece's bytes, in id order.
    text: Box<[u8]>,
    /// Piece `i` is `text[starts[i]..starts[i + 1]]`.
    starts: Box<[u32]>,
    scores: Box<[f64]>,
    /// Ids of the distinct pieces ordered by bytes; a duplicated piece keeps its last id.
    sorted: Box<[u32]>,
    /// Every non-empty distinct piece, valued by its id (the one in `sorted`).
    automaton: CharwiseDoubleArrayAhoCorasick<u32>,
    min_score: f64,
    unk_id: Option<u32>,
}

impl PartialEq for CompactUnigram {
    fn eq(&self, other: &Self) -> bool {
        // The automaton is built from these.
        (&self.text, &self.starts, &self.scores, self.unk_id)
            == (&other.text, &other.starts, &other.scores, other.unk_id)
    }
}

impl fmt::Debug for CompactUnigram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactUnigram")
            .field("vocab", &self.scores.len())
            .field("unk_id", &self.unk_id)
            .finish()
    }
}

/// Collects the pieces of a vocabulary one at a time (so no `Vec<(String, f64)>` is ever built).
#[derive(Default)]
struct VocabBuilder {
    text: Vec<u8>,
    starts: Vec<u32>,
    scores: Vec<f64>,
}

impl VocabBuilder {
    fn push(&mut self, piece: &str, score: f64) -> Result<(), UnigramError> {
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.text.extend_from_slice(piece.as_bytes());
        let end = u32::try_from(self.text.len()).map_err(|_| UnigramError::TooLarge)?;
        self.starts.push(end);
        self.scores.push(score);
        Ok(())
    }

    fn build(self, unk_id: Option<usize>) -> Result<CompactUnigram, UnigramError> {
        let n = self.scores.len();
        if let Some(unk) = unk_id {
            if n == 0 {
                return Err(UnigramError::EmptyVocabulary);
            }
            if unk >= n {
                return Err(UnigramError::UnkIdNotInVocabulary(unk));
            }
        }
        let min_score = self
            .scores
            .iter()
            .copied()
            .fold(f64::INFINITY, |m, s| if s < m { s } else { m });
        let text = self.text.into_boxed_slice();
        let starts = if self.starts.is_empty() {
            vec![0].into_boxed_slice()
        } else {
            self.starts.into_boxed_slice()
        };
        let sorted = sorted_ids(&text, &starts);
        let automaton = automaton(&text, &starts, &sorted)?;
        Ok(CompactUnigram {
            text,
            starts,
            scores: self.scores.into_boxed_slice(),
            sorted,
            automaton,
            min_score,
            unk_id: unk_id.map(|u| u as u32),
        })
    }
}

/// Piece `id` of the arena.
fn piece<'a>(text: &'a [u8], starts: &[u32], id: u32) -> &'a [u8] {
    let id = id as usize;
    &text[starts[id] as usize..starts[id + 1] as usize]
}

/// Ids ordered by piece bytes; of equal pieces only the last id stays (the crate's map keeps it).
fn sorted_ids(text: &[u8], starts: &[u32]) -> Box<[u32]> {
    let mut ids: Vec<u32> = (0..starts.len() as u32 - 1).collect();
    // Stable: equal pieces stay in id order, so the last of each run is the highest id.
    ids.sort_by(|&a, &b| piece(text, starts, a).cmp(piece(text, starts, b)));
    let mut out: Vec<u32> = Vec::with_capacity(ids.len());
    for id in ids {
        match out.last_mut() {
            Some(last) if piece(text, starts, *last) == piece(text, starts, id) => *last = id,
            _ => out.push(id),
        }
    }
    out.into_boxed_slice()
}

/// The automaton over the distinct non-empty pieces (the empty piece never matches in the crate).
fn automaton(
    text: &[u8],
    starts: &[u32],
    sorted: &[u32],
) -> Result<CharwiseDoubleArrayAhoCorasick<u32>, UnigramError> {
    let pieces = sorted.iter().filter_map(|&id| {
        // The arena holds whole `str`s, so every piece is UTF-8.
        let s = std::str::from_utf8(piece(text, starts, id)).ok()?;
        (!s.is_empty()).then_some((s, id))
    });
    CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build_with_values(pieces)
        .map_err(|e| UnigramError::Automaton(e.to_string()))
}

impl CompactUnigram {
    /// Builds the model from `(piece, score)` pairs in id order, as `Unigram::from` does.
    pub fn from_vocab<'a>(
        vocab: impl IntoIterator<Item = (&'a str, f64)>,
        unk_id: Option<usize>,
    ) -> Result<Self, UnigramError> {
        let mut builder = VocabBuilder::default();
        for (piece, score) in vocab {
            builder.push(piece, score)?;
        }
        builder.build(unk_id)
    }

    /// Bytes held by the model's arrays (what replaces the crate's ~280 MiB).
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
            + self.starts.len() * 4
            + self.scores.len() * 8
            + self.sorted.len() * 4
            + self.automaton.heap_bytes()
    }

    fn piece(&self, id: u32) -> &[u8] {
        piece(&self.text, &self.starts, id)
    }

    /// The id of `token`, as the crate's `token_to_ids` map answers.
    fn lookup(&self, token: &[u8]) -> Option<u32> {
        self.sorted
            .binary_search_by(|&id| self.piece(id).cmp(token))
            .ok()
            .map(|i| self.sorted[i])
    }

    /// Every piece occurring in `sentence` as `(start, end, id)`, by start then end: the edges the
    /// crate's trie `common_prefix_search` finds from each start position.
    fn matches(&self, sentence: &str) -> Vec<(usize, usize, u32)> {
        let mut found: Vec<(usize, usize, u32)> = self
            .automaton
            .find_overlapping_iter(sentence)
            .map(|m| (m.start(), m.end(), m.value()))
            .collect();
        found.sort_unstable();
        found
    }

    /// The best segmentation of `sentence` as `(start, end, node id)`, in order (the crate's
    /// `encode_optimized` before unknown runs are fused).
    fn viterbi(&self, sentence: &str) -> Result<Vec<(usize, usize, u32)>, UnigramError> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f64,
            from: Option<usize>,
        }
        let size = sentence.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                from: None
            };
            size + 1
        ];
        let relax = |best: &mut [Best], start: usize, end: usize, id: u32, score: f64| {
            let target = &mut best[end];
            if target.from.is_none() || score > target.score {
                *target = Best {
                    id,
                    score,
                    from: Some(start),
                };
            }
        };
        let matches = self.matches(sentence);
        let mut next = matches.iter().peekable();
        for (start, ch) in sentence.char_indices() {
            let base = best[start].score;
            let mblen = ch.len_utf8();
            let mut single = false;
            while let Some(&(_, end, id)) = next.next_if(|m| m.0 == start) {
                relax(&mut best, start, end, id, self.scores[id as usize] + base);
                single |= end - start == mblen;
            }
            let target = best[start + mblen];
            let score = unk_score + base;
            // As in the crate: a missing unk_id is an error only where the unknown node wins.
            if !single && (target.from.is_none() || score > target.score) {
                let unk = self.unk_id.ok_or(UnigramError::MissingUnkId)?;
                relax(&mut best, start, start + mblen, unk, score);
            }
        }
        let mut path = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            let start = node
                .from
                .expect("this is a bug: every character gets a node");
            path.push((start, end, node.id));
            end = start;
        }
        path.reverse();
        Ok(path)
    }

    /// The crate's `Unigram::tokenize`: the best path, runs of `<unk>` nodes fused into one token,
    /// each token's id looked up by its text (`<unk>` when absent).
    fn tokens(&self, sentence: &str) -> Result<Vec<Token>, UnigramError> {
        if sentence.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.viterbi(sentence)?;
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(path.len());
        let mut fusing = false;
        for (start, end, id) in path {
            let is_unk = Some(id) == self.unk_id;
            match spans.last_mut() {
                Some(last) if is_unk && fusing => last.1 = end,
                _ => spans.push((start, end)),
            }
            fusing = is_unk;
        }
        spans
            .into_iter()
            .map(|(start, end)| {
                let text = &sentence[start..end];
                let id = match self.lookup(text.as_bytes()) {
                    Some(id) => id,
                    None => self.unk_id.ok_or(UnigramError::MissingUnkId)?,
                };
                Ok(Token::new(id, text.to_owned(), (start, end)))
            })
            .collect()
    }
}

impl Model for CompactUnigram {
    type Trainer = NoTrainer;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        Ok(self.tokens(sequence)?)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.lookup(token.as_bytes())
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        if (id as usize) < self.scores.len() {
            Some(String::from_utf8_lossy(self.piece(id)).into_owned())
        } else {
            None
        }
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        self.sorted
            .iter()
            .map(|&id| (String::from_utf8_lossy(self.piece(id)).into_owned(), id))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.scores.len()
    }

    fn save(&self, folder: &Path, prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        let name = match prefix {
            Some(p) => format!("{p}-unigram.json"),
            None => "unigram.json".to_string(),
        };
        let path = folder.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(self)?)?;
        Ok(vec![path])
    }

    fn get_trainer(&self) -> NoTrainer {
        NoTrainer
    }
}

/// [`Model`] needs a trainer type; the compact model is for inference only.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrainer;

impl Trainer for NoTrainer {
    type Model = CompactUnigram;

    fn should_show_progress(&self) -> bool {
        false
    }

    fn train(&self, _model: &mut CompactUnigram) -> tokenizers::Result<Vec<AddedToken>> {
        Err(Box::new(UnigramError::NotTrainable))
    }

    fn feed<I, S, F>(&mut self, _iterator: I, _process: F) -> tokenizers::Result<()>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
        F: Fn(&str) -> tokenizers::Result<Vec<String>> + Sync,
    {
        Err(Box::new(UnigramError::NotTrainable))
    }
}

/// The `vocab` array of the JSON, as `[piece, score]` pairs in id order.
struct VocabSeq<'a>(&'a CompactUnigram);

impl Serialize for VocabSeq<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let model = self.0;
        let mut seq = serializer.serialize_seq(Some(model.scores.len()))?;
        for (id, score) in model.scores.iter().enumerate() {
            let piece = String::from_utf8_lossy(model.piece(id as u32));
            seq.serialize_element(&(piece, score))?;
        }
        seq.end()
    }
}

/// Written as the crate writes its `Unigram`, so a saved tokenizer loads with either.
impl Serialize for CompactUnigram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut model = serializer.serialize_struct("Unigram", 4)?;
        model.serialize_field("type", "Unigram")?;
        model.serialize_field("unk_id", &self.unk_id)?;
        model.serialize_field("vocab", &VocabSeq(self))?;
        model.serialize_field("byte_fallback", &false)?;
        model.end()
    }
}

impl<'de> Deserialize<'de> for CompactUnigram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            "Unigram",
            &["type", "vocab", "unk_id", "byte_fallback"],
            ModelVisitor,
        )
    }
}

/// Reads the `model` object of `tokenizer.json` (the fields the crate's `Unigram` reads).
struct ModelVisitor;

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = CompactUnigram;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a Unigram model")
    }

    fn visit_map<V: MapAccess<'de>>(self, mut map: V) -> Result<CompactUnigram, V::Error> {
        let mut vocab: Option<VocabBuilder> = None;
        let mut unk_id: Option<usize> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "unk_id" => unk_id = map.next_value()?,
                "byte_fallback" => {
                    if map.next_value::<bool>()? {
                        return Err(de::Error::custom(UnigramError::ByteFallback));
                    }
                }
                "vocab" => vocab = Some(map.next_value_seed(VocabVisitor)?),
                "type" => {
                    let kind: String = map.next_value()?;
                    if kind != "Unigram" {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(&kind),
                            &"Unigram",
                        ));
                    }
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let vocab = vocab.ok_or_else(|| de::Error::custom("Missing vocab"))?;
        vocab
            .build(unk_id)
            .map_err(|e| de::Error::custom(format!("Unable to load vocab {e}")))
    }
}

/// Streams the `vocab` array into a [`VocabBuilder`].
struct VocabVisitor;

impl<'de> de::DeserializeSeed<'de> for VocabVisitor {
    type Value = VocabBuilder;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<VocabBuilder, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for VocabVisitor {
    type Value = VocabBuilder;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of [piece, score] pairs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<VocabBuilder, A::Error> {
        let mut builder = VocabBuilder::default();
        while let Some((piece, score)) = seq.next_element::<(String, f64)>()? {
            builder.push(&piece, score).map_err(de::Error::custom)?;
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests;
