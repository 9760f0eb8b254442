//! [`ModelError`]: what model management (train, publish, roll back, versions, regression set,
//! audit) refuses, and why. The faces map it to their own answers.
use crate::nlu::NluError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No such version, regression case or report.
    #[error("{0}")]
    NotFound(String),
    /// The version cannot be served (missing or corrupt files, a broken catalog): nothing changed,
    /// the model in service keeps serving.
    #[error("{0}")]
    Refused(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Not now: a training run is in progress, nothing to roll back to, …
    #[error("{0}")]
    Conflict(String),
    /// A bug or a failing database; the detail is for the logs.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ModelError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => {
                ModelError::NotFound(format!("{what} {id} not found"))
            }
            StoreError::Invalid(m) => ModelError::Invalid(m),
            StoreError::Conflict(m) => ModelError::Conflict(m),
            other => ModelError::Internal(other.to_string()),
        }
    }
}

impl ModelError {
    /// A version that cannot be loaded: missing is NotFound, anything else Refused.
    pub fn unloadable(version: &str, e: NluError) -> Self {
        match e {
            NluError::NoTrainedModel { .. } => {
                ModelError::NotFound(format!("model version {version} not found under models/"))
            }
            other => {
                ModelError::Refused(format!("model version {version} cannot be loaded: {other}"))
            }
        }
    }

    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        ModelError::Internal(detail.to_string())
    }
}
