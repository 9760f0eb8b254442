//! Content hashes of model files, cached beside the file so a 400 MB model is hashed once.
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::NluError;

/// SHA-256 of a file, hex. The result is remembered in `<file>.sha256` together with the file's size
/// and modification time; a changed file is hashed again.
pub fn file_sha256(path: &Path) -> Result<String, NluError> {
    let meta = std::fs::metadata(path).map_err(|e| NluError::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stamp = format!("{} {}", meta.len(), mtime);
    let sidecar = path.with_extension(path.extension().map_or("sha256".to_string(), |e| {
        format!("{}.sha256", e.to_string_lossy())
    }));
    if let Ok(cached) = std::fs::read_to_string(&sidecar) {
        if let Some((hash, cached_stamp)) = cached.trim().split_once(' ') {
            if cached_stamp == stamp && hash.len() == 64 {
                return Ok(hash.to_string());
            }
        }
    }
    let hash = sha256_of(path)?;
    // Best effort: a read-only model directory just means hashing again next time.
    let _ = std::fs::write(&sidecar, format!("{hash} {stamp}\n"));
    Ok(hash)
}

/// SHA-256 of a file, hex, without caching.
pub fn sha256_of(path: &Path) -> Result<String, NluError> {
    let mut file = std::fs::File::open(path).map_err(|e| NluError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| NluError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
