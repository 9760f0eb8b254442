//! The trained versions under `models/`: naming rules, listing (with each manifest's headline
//! numbers), the last trained (`models/current`), and pruning. Which version is *published* is the
//! database's business (see `crate::store::Publication`); this module only knows the files.
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::NluError;
use super::model::{Manifest, CURRENT_FILE, MANIFEST_FILE};

/// Longest version name.
const MAX_VERSION_LEN: usize = 128;

/// Refuses anything but a plain directory name (letters, digits, `-`, `_`, `.`; not starting with
/// `.`), so a version can never name a path outside `models/`.
pub fn check_version_name(version: &str) -> Result<(), NluError> {
    let ok = !version.is_empty()
        && version.len() <= MAX_VERSION_LEN
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NluError::Training(format!(
            "{version:?} is not a model version name (letters, digits, '-', '_', '.')"
        )))
    }
}

/// One trained version, as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub version: String,
    pub created_at: String,
    /// Training examples (out-of-scope ones included).
    pub examples: usize,
    pub out_of_scope_examples: usize,
    pub intents: usize,
    /// Cross-validated top-1 accuracy, precision and coverage at the trained threshold.
    pub accuracy: f32,
    pub precision: f32,
    pub coverage: f32,
    /// The trained answer threshold.
    pub answer_threshold: f32,
}

impl VersionSummary {
    pub fn from_manifest(m: &Manifest) -> VersionSummary {
        let c = &m.metrics.calibration;
        VersionSummary {
            version: m.version.clone(),
            created_at: m.created_at.clone(),
            examples: m.metrics.examples,
            out_of_scope_examples: m.metrics.out_of_scope_examples,
            intents: m.intents.len(),
            accuracy: c.accuracy,
            precision: c.precision,
            coverage: c.coverage,
            answer_threshold: m.thresholds.answer,
        }
    }
}

/// Reads `models_dir/<version>/manifest.json`.
pub fn read_manifest(models_dir: &Path, version: &str) -> Result<Manifest, NluError> {
    check_version_name(version)?;
    let dir = models_dir.join(version);
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| NluError::NoTrainedModel { dir })?;
    serde_json::from_str(&text).map_err(|e| NluError::bad_file(&path, e))
}

/// The version `models/current` names (the last trained), if any.
pub fn current_version(models_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(models_dir.join(CURRENT_FILE)).ok()?;
    let version = text.trim().to_string();
    check_version_name(&version).ok().map(|_| version)
}

/// Every version directory with a readable manifest, oldest first (by creation time, then name).
/// Directories that are not versions (the encoder, the cache, temporaries) are skipped.
pub fn list_versions(models_dir: &Path) -> Result<Vec<VersionSummary>, NluError> {
    let entries = match std::fs::read_dir(models_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NluError::io(models_dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NluError::io(models_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if check_version_name(&name).is_err() || !entry.path().join(MANIFEST_FILE).is_file() {
            continue;
        }
        if let Ok(m) = read_manifest(models_dir, &name) {
            if m.version == name {
                out.push(VersionSummary::from_manifest(&m));
            }
        }
    }
    out.sort_by(|a, b| (&a.created_at, &a.version).cmp(&(&b.created_at, &b.version)));
    Ok(out)
}

/// Removes all but the newest `keep` versions, never one named in `protected` (the published and
/// the current version). Returns the removed versions.
pub fn prune(models_dir: &Path, keep: usize, protected: &[&str]) -> Result<Vec<String>, NluError> {
    let versions = list_versions(models_dir)?;
    let cut = versions.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for v in &versions[..cut] {
        if protected.contains(&v.version.as_str()) {
            continue;
        }
        let dir: PathBuf = models_dir.join(&v.version);
        std::fs::remove_dir_all(&dir).map_err(|e| NluError::io(&dir, e))?;
        removed.push(v.version.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_cannot_escape_the_models_directory() {
        for ok in ["v20261202-074700-123", "v1", "a_b.c-d"] {
            assert!(check_version_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".tmp-v1", "../etc", "a/b", "a\\b", "v 1", "vé"] {
            assert!(check_version_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_or_missing_directory_has_no_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(list_versions(dir.path()).expect("list").is_empty());
        assert!(list_versions(&dir.path().join("nope"))
            .expect("list")
            .is_empty());
        assert_eq!(current_version(dir.path()), None);
    }
}
