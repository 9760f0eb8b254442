//! Parser for the E5S1 file (`e5-small-q4.bin`), as `e5_parse` in the package's `e5.c` reads it.
//!
//! Layout, all little-endian: `"E5S1"`, `u32 version`; `i32` H, NL, NH, FF, VOC, MAXP, TVS,
//! `f32 eps`, `i32 qk`; the tokenizer (`i32` n_pieces, bos, eos, pad, unk, `u64` blob length,
//! `(n_pieces + 1) × u32` piece offsets, `n_pieces × f32` scores, the UTF-8 blob); the
//! normalisation map (`i32` entries, `u32` bytes, then per entry `u32` code point, `u8` count,
//! `count × u32` replacement code points, sorted by code point); the tensor directory (`i32`
//! entries, each `u16` name length, name, `u8` dtype 0 = f32 / 1 = Q4_0, `u32` elements,
//! `u64` absolute offset, `u64` bytes).
//!
//! Unlike `e5.c` every read is bounds-checked, so a damaged file is an [`ImportError`], never
//! a panic or an out-of-range read.
use std::path::Path;

use super::error::ImportError;

/// The only E5S1 version this importer knows.
pub const SUPPORTED_VERSION: u32 = 1;
/// Weights per Q4_0 block.
pub const Q4_BLOCK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

/// Model hyperparameters from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f32,
}

/// The SentencePiece-unigram vocabulary embedded in the file.
#[derive(Debug, Clone)]
pub struct Vocab<'a> {
    pub pieces: Vec<&'a str>,
    pub scores: Vec<f32>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// How a tensor's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcDtype {
    F32,
    Q4_0,
}

/// One tensor directory entry, its bytes already sliced out of the file.
#[derive(Debug, Clone)]
pub struct SrcTensor<'a> {
    pub name: String,
    pub dtype: SrcDtype,
    pub elements: usize,
    pub data: &'a [u8],
}

/// Everything the importer needs from an E5S1 file.
#[derive(Debug, Clone)]
pub struct E5s1<'a> {
    pub hyper: Hyper,
    pub vocab: Vocab<'a>,
    /// Per-code-point normalisation: code point → replacement (possibly empty), sorted.
    pub norm_map: Vec<(char, String)>,
    pub tensors: Vec<SrcTensor<'a>>,
}

impl E5s1<'_> {
    pub fn tensor(&self, name: &str) -> Option<&SrcTensor<'_>> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Parses an E5S1 image held in memory; `path` only names the file in errors.
pub fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<E5s1<'a>, ImportError> {
    let mut r = Reader::new(bytes, path);
    let magic = r.take(4, "magic")?;
    if magic != b"E5S1" {
        return Err(ImportError::BadMagic {
            path: path.to_owned(),
            found: String::from_utf8_lossy(magic).escape_debug().to_string(),
        });
    }
    let version = r.u32("version")?;
    if version != SUPPORTED_VERSION {
        return Err(r.invalid(format!(
            "unsupported E5S1 version {version} (this importer reads version {SUPPORTED_VERSION})"
        )));
    }
    let hyper = parse_hyper(&mut r)?;
    let vocab = parse_vocab(&mut r)?;
    let norm_map = parse_norm_map(&mut r)?;
    let tensors = parse_directory(&mut r)?;
    Ok(E5s1 {
        hyper,
        vocab,
        norm_map,
        tensors,
    })
}

fn parse_hyper(r: &mut Reader<'_, '_>) -> Result<Hyper, ImportError> {
    // Generous upper bounds: they only keep absurd headers from driving huge allocations.
    let hidden = r.count("hidden size", 1 << 16)?;
    let layers = r.count("layer count", 1 << 10)?;
    let heads = r.count("attention head count", 1 << 10)?;
    let intermediate = r.count("intermediate size", 1 << 18)?;
    let vocab = r.count("vocabulary size", 1 << 24)?;
    let max_positions = r.count("max positions", 1 << 20)?;
    let type_vocab = r.count("token type count", 1 << 10)?;
    let eps = r.f32("layer-norm epsilon")?;
    let qk = r.i32("quantisation block size")?;
    let hyper = Hyper {
        hidden,
        layers,
        heads,
        intermediate,
        vocab,
        max_positions,
        type_vocab,
        eps,
    };
    let bad = |what: String| Err(r.invalid(format!("bad header: {what} ({hyper:?})")));
    if qk != Q4_BLOCK as i32 {
        return bad(format!("Q4 block size {qk}, expected {Q4_BLOCK}"));
    }
    if [
        hidden,
        layers,
        heads,
        intermediate,
        vocab,
        max_positions,
        type_vocab,
    ]
    .contains(&0)
    {
        return bad("a zero dimension".into());
    }
    if hidden % heads != 0 {
        return bad("hidden size is not a multiple of the head count".into());
    }
    if hidden % Q4_BLOCK != 0 || intermediate % Q4_BLOCK != 0 {
        return bad(format!("sizes must be multiples of {Q4_BLOCK}"));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return bad(format!("layer-norm epsilon {eps}"));
    }
    Ok(hyper)
}

fn parse_vocab<'a>(r: &mut Reader<'a, '_>) -> Result<Vocab<'a>, ImportError> {
    let n = r.count("piece count", 1 << 24)?;
    if n == 0 {
        return Err(r.invalid("the tokenizer has no pieces"));
    }
    let mut special = [0u32; 4];
    for (slot, what) in special
        .iter_mut()
        .zip(["bos id", "eos id", "pad id", "unk id"])
    {
        let id = r.count(what, n.saturating_sub(1))?;
        *slot = id as u32;
    }
    let [bos, eos, pad, unk] = special;
    let blob_len = r.u64("piece blob length")?;
    let offsets_len = checked(n + 1, 4, r)?;
    let offsets_bytes = r.take(offsets_len, "piece offsets")?;
    let scores_len = checked(n, 4, r)?;
    let scores_bytes = r.take(scores_len, "piece scores")?;
    let blob_len = usize::try_from(blob_len).map_err(|_| r.invalid("piece blob too large"))?;
    let blob = r.take(blob_len, "piece blob")?;

    let offsets: Vec<usize> = offsets_bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let mut pieces = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    for (id, pair) in offsets.windows(2).enumerate() {
        let (start, end) = (pair[0], pair[1]);
        if start > end || end > blob.len() {
            return Err(r.invalid(format!(
                "piece {id} spans bytes {start}..{end} of a {}-byte blob",
                blob.len()
            )));
        }
        let piece = std::str::from_utf8(&blob[start..end])
            .map_err(|_| r.invalid(format!("piece {id} is not UTF-8")))?;
        if piece.is_empty() {
            return Err(r.invalid(format!("piece {id} is empty")));
        }
        if !seen.insert(piece) {
            return Err(r.invalid(format!("piece {id} ({piece:?}) appears twice")));
        }
        pieces.push(piece);
    }
    let scores: Vec<f32> = scores_bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(id) = scores.iter().position(|s| !s.is_finite()) {
        return Err(r.invalid(format!("piece {id} has score {}", scores[id])));
    }
    Ok(Vocab {
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
    })
}

fn parse_norm_map(r: &mut Reader<'_, '_>) -> Result<Vec<(char, String)>, ImportError> {
    let n = r.count("normalisation entry count", 1 << 22)?;
    let len = r.u32("normalisation map length")? as usize;
    let start = r.pos;
    let body = r.take(len, "normalisation map")?;
    let mut sub = Reader {
        buf: body,
        pos: 0,
        base: start,
        path: r.path,
    };
    let mut map: Vec<(char, String)> = Vec::with_capacity(n);
    for i in 0..n {
        let cp = sub.u32("normalisation code point")?;
        let count = sub.take(1, "normalisation entry length")?[0];
        let mut out = String::new();
        for _ in 0..count {
            let c = sub.u32("normalisation replacement")?;
            out.push(sub.char(c)?);
        }
        let key = sub.char(cp)?;
        if map.last().is_some_and(|(prev, _)| *prev >= key) {
            return Err(r.invalid(format!(
                "normalisation entry {i} (U+{cp:04X}) is out of code-point order"
            )));
        }
        map.push((key, out));
    }
    if sub.pos != body.len() {
        return Err(r.invalid(format!(
            "normalisation map has {} trailing bytes",
            body.len() - sub.pos
        )));
    }
    Ok(map)
}

fn parse_directory<'a>(r: &mut Reader<'a, '_>) -> Result<Vec<SrcTensor<'a>>, ImportError> {
    let n = r.count("tensor count", 1 << 16)?;
    let file = r.buf;
    let mut tensors: Vec<SrcTensor<'a>> = Vec::with_capacity(n);
    for _ in 0..n {
        let name_len = usize::from(r.u16("tensor name length")?);
        let name = std::str::from_utf8(r.take(name_len, "tensor name")?)
            .map_err(|_| r.invalid("a tensor name is not UTF-8"))?
            .to_owned();
        let dtype = match r.take(1, "tensor dtype")?[0] {
            0 => SrcDtype::F32,
            1 => SrcDtype::Q4_0,
            other => return Err(r.invalid(format!("tensor `{name}` has unknown dtype {other}"))),
        };
        let elements = r.u32("tensor element count")? as usize;
        let offset = r.u64("tensor offset")?;
        let nbytes = r.u64("tensor byte length")?;
        let expected = match dtype {
            SrcDtype::F32 => elements as u64 * 4,
            SrcDtype::Q4_0 => {
                if !elements.is_multiple_of(Q4_BLOCK) {
                    return Err(r.invalid(format!(
                        "Q4_0 tensor `{name}` has {elements} elements, not a multiple of {Q4_BLOCK}"
                    )));
                }
                (elements / Q4_BLOCK * Q4_BLOCK_BYTES) as u64
            }
        };
        if nbytes != expected {
            return Err(r.invalid(format!(
                "tensor `{name}` ({dtype:?}, {elements} elements) declares {nbytes} bytes, expected {expected}"
            )));
        }
        let data = offset
            .checked_add(nbytes)
            .filter(|&end| end <= file.len() as u64)
            .map(|end| &file[offset as usize..end as usize])
            .ok_or_else(|| ImportError::Truncated {
                path: r.path.to_owned(),
                what: format!("tensor `{name}`"),
                offset,
                needed: nbytes,
                len: file.len() as u64,
            })?;
        if tensors.iter().any(|t| t.name == name) {
            return Err(r.invalid(format!("tensor `{name}` appears twice")));
        }
        tensors.push(SrcTensor {
            name,
            dtype,
            elements,
            data,
        });
    }
    Ok(tensors)
}

/// `n * size` as a byte count, or an error if it overflows.
fn checked(n: usize, size: usize, r: &Reader<'_, '_>) -> Result<usize, ImportError> {
    n.checked_mul(size)
        .ok_or_else(|| r.invalid("size overflow"))
}

/// Bounds-checked little-endian cursor over the file.
struct Reader<'a, 'p> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` within the file, for messages.
    base: usize,
    path: &'p Path,
}

impl<'a, 'p> Reader<'a, 'p> {
    fn new(buf: &'a [u8], path: &'p Path) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
            path,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ImportError> {
        match self.pos.checked_add(n).filter(|&end| end <= self.buf.len()) {
            Some(end) => {
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => Err(ImportError::Truncated {
                path: self.path.to_owned(),
                what: what.to_owned(),
                offset: (self.base + self.pos) as u64,
                needed: n as u64,
                len: (self.base + self.buf.len()) as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ImportError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, ImportError> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn i32(&mut self, what: &str) -> Result<i32, ImportError> {
        self.array(what).map(i32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, ImportError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn f32(&mut self, what: &str) -> Result<f32, ImportError> {
        self.array(what).map(f32::from_le_bytes)
    }

    /// An `i32` that must lie in `0..=max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, ImportError> {
        let v = self.i32(what)?;
        match usize::try_from(v) {
            Ok(v) if v <= max => Ok(v),
            _ => Err(self.invalid(format!("{what} is {v}, expected 0..={max}"))),
        }
    }

    fn char(&self, cp: u32) -> Result<char, ImportError> {
        char::from_u32(cp).ok_or_else(|| {
            self.invalid(format!(
                "normalisation map holds invalid code point {cp:#x}"
            ))
        })
    }

    fn invalid(&self, message: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            path: self.path.to_owned(),
            message: message.into(),
        }
    }
}
