//! Writer for SentencePiece's `precompiled_charsmap`, the table behind the `Precompiled`
//! normaliser of `tokenizers` (read there by the `spm_precompiled` crate).
//!
//! Importers use it to carry a model package's own character map into a standard
//! `tokenizer.json`. The format is `u32 trie_bytes`, a darts-clone double array of
//! `u32` units over the UTF-8 keys, then NUL-terminated replacement strings; each key's
//! value is the byte offset of its replacement. No maintained crate writes darts-clone
//! arrays, so [`double_array`] builds one: a plain trie placed breadth-first into
//! 256-unit blocks, checked in the tests below by reading it back with the same
//! `spm_precompiled` code that `tokenizers` runs.
use std::collections::{BTreeMap, VecDeque};

/// Why a charsmap could not be built (all are caller bugs or absurd inputs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CharsmapError {
    #[error("charsmap key {0:?} is empty or contains a NUL byte")]
    BadKey(Vec<u8>),
    #[error("charsmap key {0:?} appears twice")]
    DuplicateKey(Vec<u8>),
    #[error("charsmap is too large for a darts-clone double array")]
    TooLarge,
}

/// Serialises `entries` (source string → replacement) as a `precompiled_charsmap`.
///
/// A replacement may be empty (the key is deleted). Keys must be non-empty and free of NUL.
pub fn precompiled_charsmap<K, V>(entries: &[(K, V)]) -> Result<Vec<u8>, CharsmapError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    // Replacement strings, deduplicated, each followed by NUL.
    let mut normalized = Vec::new();
    let mut offsets: BTreeMap<&str, u32> = BTreeMap::new();
    let mut keys = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let value = value.as_ref();
        let offset = match offsets.get(value) {
            Some(&offset) => offset,
            None => {
                let offset =
                    u32::try_from(normalized.len()).map_err(|_| CharsmapError::TooLarge)?;
                normalized.extend_from_slice(value.as_bytes());
                normalized.push(0);
                offsets.insert(value, offset);
                offset
            }
        };
        keys.push((key.as_ref().as_bytes(), offset));
    }
    let units = double_array(&keys)?;
    let trie_bytes = u32::try_from(units.len() * 4).map_err(|_| CharsmapError::TooLarge)?;
    let mut out = Vec::with_capacity(4 + units.len() * 4 + normalized.len());
    out.extend_from_slice(&trie_bytes.to_le_bytes());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out.extend_from_slice(&normalized);
    Ok(out)
}

/// Largest value a darts-clone leaf unit stores (31 bits).
const MAX_VALUE: u32 = (1 << 31) - 1;
/// Largest relative offset stored without darts-clone's 8-bit-shifted "extension" form.
const MAX_PLAIN_OFFSET: usize = 1 << 21;

#[derive(Default)]
struct TrieNode {
    children: BTreeMap<u8, usize>,
    value: Option<u32>,
}

/// Builds darts-clone double-array units for `(key, value)` pairs.
///
/// Unit layout (darts-clone `DoubleArrayUnit`): bits 0–7 label, bit 8 "has leaf", bits 10–30
/// offset to the children's base (XOR-relative to the unit's own position), bit 31 marks a
/// leaf unit whose low 31 bits hold the value. A child labelled `c` of a node whose base is
/// `b` lives at `b ^ c`; the leaf of a node that ends a key lives at `b ^ 0`. Bases are unique
/// per node (the label check alone cannot tell two parents apart) and the array length is a
/// multiple of 256, so every `b ^ c` a lookup can compute stays in bounds.
pub fn double_array(keys: &[(&[u8], u32)]) -> Result<Vec<u32>, CharsmapError> {
    let nodes = trie(keys)?;
    let mut units: Vec<u32> = vec![0; 256];
    let mut used = vec![false; 256]; // position holds a unit
    let mut base_taken = vec![false; 256]; // position already serves as some node's base
    used[0] = true; // the root
    let mut first_free = 1;
    let mut queue = VecDeque::from([(0usize, 0usize)]); // (node, position)
    while let Some((node, pos)) = queue.pop_front() {
        let node = &nodes[node];
        // Labels this node needs under its base: 0 for its leaf, then its children's bytes.
        let labels: Vec<u8> = node
            .value
            .map(|_| 0u8)
            .into_iter()
            .chain(node.children.keys().copied())
            .collect();
        if labels.is_empty() {
            continue;
        }
        let base = find_base(&mut units, &mut used, &mut base_taken, first_free, &labels);
        let relative = pos ^ base;
        if relative >= MAX_PLAIN_OFFSET {
            return Err(CharsmapError::TooLarge);
        }
        base_taken[base] = true;
        let has_leaf = if node.value.is_some() { 1 << 8 } else { 0 };
        // The node's own unit keeps its label (set when its parent placed it).
        units[pos] = (units[pos] & 0xFF) | has_leaf | ((relative as u32) << 10);
        if let Some(value) = node.value {
            units[base] = value | (1 << 31);
            used[base] = true;
        }
        for (&label, &child) in &node.children {
            let at = base ^ usize::from(label);
            units[at] = u32::from(label);
            used[at] = true;
            queue.push_back((child, at));
        }
        while first_free < used.len() && used[first_free] {
            first_free += 1;
        }
    }
    Ok(units)
}

/// The byte trie of `keys` (node 0 is the root), checking that keys are non-empty, free of NUL,
/// distinct, and their values small enough.
fn trie(keys: &[(&[u8], u32)]) -> Result<Vec<TrieNode>, CharsmapError> {
    let mut nodes = vec![TrieNode::default()];
    for &(key, value) in keys {
        if key.is_empty() || key.contains(&0) {
            return Err(CharsmapError::BadKey(key.to_vec()));
        }
        if value > MAX_VALUE {
            return Err(CharsmapError::TooLarge);
        }
        let mut node = 0;
        for &byte in key {
            node = match nodes[node].children.get(&byte) {
                Some(&child) => child,
                None => {
                    nodes.push(TrieNode::default());
                    let child = nodes.len() - 1;
                    nodes[node].children.insert(byte, child);
                    child
                }
            };
        }
        if nodes[node].value.replace(value).is_some() {
            return Err(CharsmapError::DuplicateKey(key.to_vec()));
        }
    }
    Ok(nodes)
}

/// A base for a node with `labels`: not yet any node's base, with every `base ^ label` free (and
/// not the root). Tries bases that put the first label on a free position, from `first_free` on,
/// growing the arrays as needed.
fn find_base(
    units: &mut Vec<u32>,
    used: &mut Vec<bool>,
    base_taken: &mut Vec<bool>,
    first_free: usize,
    labels: &[u8],
) -> usize {
    let mut probe = first_free;
    loop {
        while probe < used.len() && used[probe] {
            probe += 1;
        }
        let base = probe ^ usize::from(labels[0]);
        grow(units, used, base_taken, base | 0xFF);
        let fits = !base_taken[base]
            && labels.iter().all(|&label| {
                let at = base ^ usize::from(label);
                at != 0 && !used[at]
            });
        if fits {
            return base;
        }
        probe += 1;
        grow(units, used, base_taken, probe);
    }
}

/// Extends the arrays by whole 256-unit blocks until `index` is in range.
fn grow(units: &mut Vec<u32>, used: &mut Vec<bool>, base_taken: &mut Vec<bool>, index: usize) {
    if index >= units.len() {
        let len = (index / 256 + 1) * 256;
        units.resize(len, 0);
        used.resize(len, false);
        base_taken.resize(len, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::normalizers::Precompiled;

    fn read_back(entries: &[(String, String)]) -> Precompiled {
        let bytes = precompiled_charsmap(entries).expect("charsmap builds");
        Precompiled::from(&bytes).expect("spm_precompiled parses our charsmap")
    }

    #[test]
    fn every_key_maps_to_its_replacement_and_nothing_else_matches() {
        // A per-code-point map shaped like the real ones: ASCII controls, Latin-1,
        // full-width forms, half-width katakana, 4-byte code points, shared replacements.
        let mut entries = Vec::new();
        for cp in (1u32..0x20).chain(0x7F..0xA0) {
            entries.push((char::from_u32(cp).unwrap().to_string(), String::new()));
        }
        for (offset, cp) in (0xFF01u32..0xFF5F).enumerate() {
            let ascii = char::from_u32(0x21 + offset as u32).unwrap();
            entries.push((char::from_u32(cp).unwrap().to_string(), ascii.to_string()));
        }
        entries.push(("ｶ".into(), "カ".into()));
        entries.push(("ﾞ".into(), "\u{3099}".into()));
        entries.push(("\u{A0}".into(), " ".into()));
        entries.push(("ﬁ".into(), "fi".into()));
        entries.push(("\u{1D400}".into(), "A".into()));
        entries.push(("㍿".into(), "株式会社".into()));
        let map = read_back(&entries);
        for (key, value) in &entries {
            assert_eq!(map.transform(key), Some(value.as_str()), "key {key:?}");
        }
        for miss in [
            "a",
            "Z",
            " ",
            "é",
            "カ",
            "あ",
            "ｷ",
            "😀",
            "\u{1D401}",
            "\u{FF5F}",
            "\u{3099}",
        ] {
            assert_eq!(map.transform(miss), None, "{miss:?} is not a key");
        }
        // Lookups of arbitrary text stay in bounds and only ever match a key prefix.
        let text = "Ｈｅｌｌｏ ﾊﾟｽﾜｰﾄﾞ\u{1}\u{7F}😢𠮷 café\u{301} ｶﾞ ﬁ";
        for (i, _) in text.char_indices() {
            let rest = &text[i..];
            let first = rest.chars().next().unwrap().to_string();
            let expected = entries
                .iter()
                .find(|(k, _)| *k == first)
                .map(|(_, v)| v.as_str());
            assert_eq!(map.transform(rest), expected, "at {rest:?}");
        }
    }

    #[test]
    fn shared_prefixes_and_multi_byte_keys() {
        let entries: Vec<(String, String)> = [("a", "1"), ("ab", "2"), ("abc", ""), ("b", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let map = read_back(&entries);
        // spm's transform returns the shortest matching key.
        assert_eq!(map.transform("abc"), Some("1"));
        assert_eq!(map.transform("b"), Some("1"));
        assert_eq!(map.transform("c"), None);
        let units = double_array(&[(b"ab", 7), (b"abc", 9)]).unwrap();
        assert_eq!(units.len() % 256, 0);
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(
            double_array(&[(b"", 0)]),
            Err(CharsmapError::BadKey(Vec::new()))
        );
        assert_eq!(
            double_array(&[(b"a", 0), (b"a", 1)]),
            Err(CharsmapError::DuplicateKey(b"a".to_vec()))
        );
    }
}
