//! The encoder's word-embedding table, kept small: int8 values with one f32 scale per row, in a
//! file memory-mapped beside the weights, so only the rows of tokens customers actually use become
//! resident, dequantized on lookup.
//!
//! The f32 table of multilingual-e5-small is 250,037 × 384 floats (384 MB), more than the rest of the
//! model; as int8 it is 96 MB on disk, and a serving process touches a few MB of it. The file,
//! `word_embeddings.q8` next to `model.safetensors`, is built once from the weights (on the first
//! load; the first load with a read-only directory keeps the table in memory instead) and carries
//! the weights' SHA-256, so a changed model rebuilds it. The symmetric per-row quantisation error is
//! at most half a step (max |row| / 254) per value; the layer norm right after the lookup keeps
//! sentence vectors within cosine 0.999 of the f32 table's (tested on the real encoder).
//!
//! [`EmbeddingTable::exact`] keeps f32 rows (tests comparing with reference implementations).
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Tensor};

use super::error::NluError;

/// File name of the quantised table, next to `model.safetensors`.
pub const TABLE_FILE: &str = "word_embeddings.q8";
const MAGIC: &[u8; 8] = b"MDGQ8\0\0\x01";
/// Magic, rows (u64), dim (u64), weights SHA-256 (64 hex characters).
const HEADER: usize = 8 + 8 + 8 + 64;

/// Token id → embedding row.
pub struct EmbeddingTable {
    rows: usize,
    dim: usize,
    values: Values,
}

enum Values {
    /// Row-major f32 (exact).
    F32(Vec<f32>),
    /// [`HEADER`], `rows` f32 scales (little-endian), then `rows × dim` int8 values.
    Q8(Bytes),
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl EmbeddingTable {
    /// The f32 rows of a `[rows, dim]` tensor, unchanged.
    pub fn exact(table: &Tensor) -> candle_core::Result<Self> {
        let (rows, dim) = table.dims2()?;
        let values = table.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        Ok(Self {
            rows,
            dim,
            values: Values::F32(values),
        })
    }

    /// A `[rows, dim]` f32 table quantised in memory (no file).
    pub fn quantize(values: &[f32], rows: usize, dim: usize) -> Self {
        assert_eq!(values.len(), rows * dim, "this is a bug: table shape");
        let bytes = encode(rows, dim, "", |r| values[r * dim..(r + 1) * dim].to_vec());
        Self {
            rows,
            dim,
            values: Values::Q8(Bytes::Owned(bytes)),
        }
    }

    /// The quantised table of tensor `name` (`[rows, dim]`) in `weights`: [`TABLE_FILE`] beside it
    /// when it matches `weights_sha256`, else built from the weights (row by row from the mapped
    /// file) and saved there for next time; kept in memory if the directory is read-only.
    pub fn open_or_build(
        weights: &Path,
        weights_sha256: &str,
        name: &str,
        rows: usize,
        dim: usize,
    ) -> Result<Self, NluError> {
        let path = table_path(weights);
        if let Some(table) = Self::open(&path, weights_sha256, rows, dim) {
            return Ok(table);
        }
        let bytes = build_from_weights(weights, weights_sha256, name, rows, dim)?;
        match save(&path, &bytes).and_then(|()| map(&path)) {
            Ok(mapped) => Ok(Self {
                rows,
                dim,
                values: Values::Q8(Bytes::Mapped(mapped)),
            }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "cannot save the quantised embedding table; keeping it in memory");
                Ok(Self {
                    rows,
                    dim,
                    values: Values::Q8(Bytes::Owned(bytes)),
                })
            }
        }
    }

    /// The saved table at `path` if it is complete and made from these weights.
    fn open(path: &Path, weights_sha256: &str, rows: usize, dim: usize) -> Option<Self> {
        let mapped = map(path).ok()?;
        let expected = HEADER + rows * 4 + rows * dim;
        let header_ok = mapped.len() == expected
            && &mapped[..8] == MAGIC
            && read_u64(&mapped[8..16]) == rows as u64
            && read_u64(&mapped[16..24]) == dim as u64
            && &mapped[24..HEADER] == weights_sha256.as_bytes();
        if !header_ok {
            tracing::info!(path = %path.display(), "rebuilding the quantised embedding table");
            return None;
        }
        #[cfg(unix)]
        {
            // Lookups touch scattered rows: no read-ahead of neighbouring pages.
            let _ = mapped.advise(memmap2::Advice::Random);
        }
        Some(Self {
            rows,
            dim,
            values: Values::Q8(Bytes::Mapped(mapped)),
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Short name of the encoding, part of the encoder's fingerprint ("f32" or "q8").
    pub fn encoding(&self) -> &'static str {
        match self.values {
            Values::F32(_) => "f32",
            Values::Q8(_) => "q8",
        }
    }

    /// Whether the values are read from the mapped file (not held in process memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self.values, Values::Q8(Bytes::Mapped(_)))
    }

    /// The rows of `ids`, one after another (`ids.len() × dim` floats).
    pub fn lookup_rows(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(ids.len() * self.dim);
        for &id in ids {
            let r = id as usize;
            if r >= self.rows {
                candle_core::bail!(
                    "token id {id} is outside the vocabulary ({} rows)",
                    self.rows
                )
            }
            match &self.values {
                Values::F32(v) => out.extend_from_slice(&v[r * self.dim..(r + 1) * self.dim]),
                Values::Q8(bytes) => {
                    let bytes = bytes.get();
                    let scale = read_f32(&bytes[HEADER + r * 4..HEADER + r * 4 + 4]);
                    let start = HEADER + self.rows * 4 + r * self.dim;
                    out.extend(
                        bytes[start..start + self.dim]
                            .iter()
                            .map(|&q| f32::from(q as i8) * scale),
                    );
                }
            }
        }
        Ok(out)
    }
}

/// The name of the word-embedding tensor in `vb` (with or without a `bert.` prefix).
pub fn word_embeddings_name(vb: &candle_nn::VarBuilder) -> String {
    let name = "embeddings.word_embeddings.weight";
    if vb.contains_tensor(&format!("bert.{name}")) {
        format!("bert.{name}")
    } else {
        name.to_string()
    }
}

/// [`TABLE_FILE`] in the directory of `weights`.
pub fn table_path(weights: &Path) -> PathBuf {
    weights.with_file_name(TABLE_FILE)
}

/// Header, scales and int8 values of a table whose row `r` is `row(r)`.
fn encode(rows: usize, dim: usize, key: &str, row: impl Fn(usize) -> Vec<f32>) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER + rows * 4 + rows * dim];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&(rows as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(&(dim as u64).to_le_bytes());
    let key = key.as_bytes();
    bytes[24..24 + key.len().min(64)].copy_from_slice(&key[..key.len().min(64)]);
    let (scales, values) = bytes[HEADER..].split_at_mut(rows * 4);
    for r in 0..rows {
        let x = row(r);
        let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales[r * 4..r * 4 + 4].copy_from_slice(&scale.to_le_bytes());
        for (q, v) in values[r * dim..(r + 1) * dim].iter_mut().zip(&x) {
            *q = ((v / scale).round().clamp(-127.0, 127.0) as i8) as u8;
        }
    }
    bytes
}

/// The quantised table of tensor `name`, read row by row from the memory-mapped weights (the
/// mapping is dropped afterwards, so the f32 table never stays resident).
fn build_from_weights(
    weights: &Path,
    key: &str,
    name: &str,
    rows: usize,
    dim: usize,
) -> Result<Vec<u8>, NluError> {
    // SAFETY: read-only mapping of a weights file madoguchi does not modify while loaded.
    let st = unsafe { MmapedSafetensors::new(weights)? };
    let view = st.get(name)?;
    if view.shape() != [rows, dim] {
        return Err(NluError::bad_file(
            weights,
            format!(
                "{name} has shape {:?}, expected [{rows}, {dim}]",
                view.shape()
            ),
        ));
    }
    let data = view.data();
    let width = match view.dtype() {
        safetensors::Dtype::F32 => 4,
        safetensors::Dtype::F16 | safetensors::Dtype::BF16 => 2,
        other => {
            return Err(NluError::bad_file(
                weights,
                format!("{name} is {other:?}; expected F32, F16 or BF16"),
            ))
        }
    };
    let dtype = view.dtype();
    let row = |r: usize| -> Vec<f32> {
        data[r * dim * width..(r + 1) * dim * width]
            .chunks_exact(width)
            .map(|b| match dtype {
                safetensors::Dtype::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                safetensors::Dtype::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
                _ => read_f32(b),
            })
            .collect()
    };
    Ok(encode(rows, dim, key, row))
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a rename), so
/// concurrent first loads never see half a file.
fn save(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("q8.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn map(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the table file is written once by rename and never modified in place.
    unsafe { memmap2::Mmap::map(&file) }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn read_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn table(rows: usize, dim: usize) -> Vec<f32> {
        (0..rows * dim)
            .map(|i| {
                ((i * 7919 % 1013) as f32 - 506.0) / 97.0 * if i % dim == 0 { 9.0 } else { 1.0 }
            })
            .collect()
    }

    #[test]
    fn lookup_is_within_half_a_step_of_the_f32_row() {
        let (rows, dim) = (50, 24);
        let values = table(rows, dim);
        let q = EmbeddingTable::quantize(&values, rows, dim);
        let ids: Vec<u32> = vec![0, 49, 7, 7, 13];
        let got: Vec<f32> = q.lookup_rows(&ids).expect("lookup");
        for (i, &id) in ids.iter().enumerate() {
            let want = &values[id as usize * dim..(id as usize + 1) * dim];
            let step = want.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (g, w) in got[i * dim..(i + 1) * dim].iter().zip(want) {
                assert!((g - w).abs() <= step / 2.0 + 1e-6, "row {id}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn a_zero_row_stays_zero_and_ids_past_the_end_are_refused() {
        let q = EmbeddingTable::quantize(&[0.0; 8], 2, 4);
        let got: Vec<f32> = q.lookup_rows(&[1]).expect("lookup");
        assert_eq!(got, vec![0.0; 4]);
        let err = q.lookup_rows(&[2]).expect_err("id 2 of 2 rows");
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }

    #[test]
    fn the_exact_table_returns_rows_unchanged() {
        let values = table(5, 3);
        let t = Tensor::from_vec(values.clone(), (5, 3), &Device::Cpu).expect("tensor");
        let exact = EmbeddingTable::exact(&t).expect("exact");
        let got: Vec<f32> = exact.lookup_rows(&[4, 0]).expect("lookup");
        assert_eq!(got[..3], values[12..15]);
        assert_eq!(got[3..], values[..3]);
        assert_eq!(exact.encoding(), "f32");
    }
}
