//! Reading the YAML files of `intents/` and `training-data/`: listing them, reading them, and
//! locating a YAML error as a [`Problem`].
use std::path::{Path, PathBuf};

use super::error::{CatalogError, Problem};

pub(crate) fn read(path: &Path) -> Result<String, CatalogError> {
    std::fs::read_to_string(path).map_err(|e| CatalogError::io(path, e))
}

pub(crate) fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CatalogError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CatalogError::io(dir, e))?.path();
        if path.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn yaml_problem(path: &Path, e: &serde_norway::Error) -> Problem {
    let line = e.location().map(|l| l.line());
    Problem::new(path, line, format!("invalid YAML: {e}"))
}
