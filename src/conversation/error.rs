//! [`ConversationError`]: what the conversation service refuses, and why. The channels (HTTP API,
//! CLI, web pages) map it to their own answers; only `api/error.rs` knows HTTP statuses.
use crate::nlu::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    /// No such conversation, ticket or message.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Valid credentials for another conversation.
    #[error("this token does not give access to this conversation")]
    Forbidden,
    /// A credential that is missing, wrong, expired or already used.
    #[error("{0}")]
    Unauthorized(String),
    /// Bad input (empty text, too long, unknown locale, CSAT out of range, …).
    #[error("{0}")]
    Invalid(String),
    /// Not allowed in the record's state (resolved conversation, ticket claimed by someone else, …).
    #[error("{0}")]
    Conflict(String),
    /// The classifier queue is full: nothing was stored; retry shortly.
    #[error("the service is busy; retry in a moment")]
    Busy,
    /// Too many live streams open (per conversation or in total).
    #[error("{0}")]
    TooManyStreams(String),
    /// The model is loading or the inference thread is restarting: nothing was stored.
    #[error("{0}")]
    NotReady(String),
    /// A bug or a failing database; the detail is for the logs.
    #[error("{0}")]
    Internal(String),
}

impl ConversationError {
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        ConversationError::Internal(detail.to_string())
    }
}

impl From<StoreError> for ConversationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => ConversationError::NotFound(what),
            StoreError::Conflict(m) => ConversationError::Conflict(m),
            StoreError::Invalid(m) => ConversationError::Invalid(m),
            e @ StoreError::Stale { .. } => {
                ConversationError::Conflict(format!("{e} too many times; send the message again"))
            }
            other => ConversationError::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ConversationError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Full => ConversationError::Busy,
            QueueError::NotReady => {
                ConversationError::NotReady("the model is not loaded; retry shortly".into())
            }
            QueueError::Closed => {
                ConversationError::NotReady("the classifier is restarting; retry shortly".into())
            }
            QueueError::Failed(_) => ConversationError::Internal(e.to_string()),
        }
    }
}
