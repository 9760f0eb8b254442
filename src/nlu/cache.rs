//! On-disk embedding cache, keyed by encoder fingerprint and text: a retrain embeds only new texts.
//!
//! One append-only file per encoder fingerprint (`<dir>/<fingerprint>.bin`): a header, then records
//! of (u32 text length, UTF-8 text, `dim` little-endian f32). A record cut short by a crash is
//! ignored on load and overwritten by the next append.
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::encoder::{Embeddings, Encoder};
use super::error::NluError;

const MAGIC: &[u8; 8] = b"MDEMB01\n";

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    vectors: HashMap<String, Vec<f32>>,
    /// Byte length of the valid prefix of the file.
    valid_len: u64,
}

impl EmbeddingCache {
    /// Opens (or starts) the cache of `encoder` in `dir`.
    pub fn open(dir: &Path, encoder: &dyn Encoder) -> Result<Self, NluError> {
        std::fs::create_dir_all(dir).map_err(|e| NluError::io(dir, e))?;
        let path = dir.join(format!("{}.bin", encoder.fingerprint()));
        let dim = encoder.dim();
        let mut cache = Self {
            path,
            dim,
            vectors: HashMap::new(),
            valid_len: 0,
        };
        cache.read_existing()?;
        Ok(cache)
    }

    /// An in-memory cache that never touches disk (tests, one-off runs).
    pub fn in_memory(dim: usize) -> Self {
        Self {
            path: PathBuf::new(),
            dim,
            vectors: HashMap::new(),
            valid_len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    fn read_existing(&mut self) -> Result<(), NluError> {
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(|e| NluError::io(&self.path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(NluError::io(&self.path, e)),
        };
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            // Not ours or from another version: start over rather than trust it.
            return Ok(());
        }
        let dim = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if dim != self.dim {
            return Ok(());
        }
        let mut pos = 12usize;
        while let Some(len_bytes) = bytes.get(pos..pos + 4) {
            let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            let text_end = pos + 4 + len;
            let vec_end = text_end + 4 * dim;
            let (Some(text), Some(vec)) =
                (bytes.get(pos + 4..text_end), bytes.get(text_end..vec_end))
            else {
                break;
            };
            let Ok(text) = std::str::from_utf8(text) else {
                break;
            };
            let v = vec
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            self.vectors.insert(text.to_string(), v);
            pos = vec_end;
        }
        self.valid_len = pos as u64;
        Ok(())
    }

    /// Embeddings of `texts` in order, computing (and storing) only the ones not cached yet.
    pub fn embed(
        &mut self,
        encoder: &dyn Encoder,
        texts: &[&str],
        progress: bool,
    ) -> Result<Embeddings, NluError> {
        let mut missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !self.vectors.contains_key(*t))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let bar = if progress {
                let bar = ProgressBar::new(missing.len() as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "embedding {bar:40} {pos}/{len} texts ({per_sec}, eta {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            } else {
                ProgressBar::hidden()
            };
            for chunk in missing.chunks(256) {
                let computed = encoder.embed(chunk)?;
                self.append(chunk, &computed)?;
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
        }
        let mut out = Embeddings::new(self.dim);
        for t in texts {
            let v = self
                .vectors
                .get(*t)
                .expect("this is a bug: every text was embedded above");
            out.push(v);
        }
        Ok(out)
    }

    fn append(&mut self, texts: &[&str], computed: &Embeddings) -> Result<(), NluError> {
        if !self.path.as_os_str().is_empty() {
            self.write_records(texts, computed)
                .map_err(|e| NluError::io(&self.path, e))?;
        }
        for (i, t) in texts.iter().enumerate() {
            self.vectors
                .insert((*t).to_string(), computed.row(i).to_vec());
        }
        Ok(())
    }

    fn write_records(&mut self, texts: &[&str], computed: &Embeddings) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)?;
        if self.valid_len == 0 {
            file.set_len(0)?;
            file.write_all(MAGIC)?;
            file.write_all(&(self.dim as u32).to_le_bytes())?;
            self.valid_len = 12;
        }
        // Drop any torn tail left by an earlier crash, then append.
        file.set_len(self.valid_len)?;
        file.seek(SeekFrom::Start(self.valid_len))?;
        let mut w = BufWriter::new(&mut file);
        for (i, t) in texts.iter().enumerate() {
            w.write_all(&(t.len() as u32).to_le_bytes())?;
            w.write_all(t.as_bytes())?;
            for v in computed.row(i) {
                w.write_all(&v.to_le_bytes())?;
            }
            self.valid_len += 4 + t.len() as u64 + 4 * self.dim as u64;
        }
        w.flush()?;
        Ok(())
    }
}
