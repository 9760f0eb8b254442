//! Errors of the dialogue layer. Everything here is a startup error: a turn itself never fails (a
//! problem while answering is logged and the conversation goes to a person instead).
use std::path::PathBuf;

use crate::catalog::{list_problems, Problem};

#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found in `_dialogue.yaml`, `_entities.yaml` and the templates, with file and line.
    #[error("{} problem(s) in the dialogue configuration:\n{}", .0.len(), list_problems(.0))]
    Invalid(Vec<Problem>),
}

impl DialogueError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
