//! [`EditError`]: what can go wrong when a lead works on the inbox, the intents or "try it".
use crate::catalog::{list_problems, CatalogError, Problem};
use crate::nlu::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A bad request: an unknown locale, an empty selection, a bad intent name, …
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// Already done (a decided message, an existing intent, a label that conflicts).
    #[error("{0}")]
    Conflict(String),
    /// The edit would make the catalog invalid (the checks of `madoguchi validate`).
    #[error("{} problem(s):\n{}", .0.len(), list_problems(.0))]
    Rejected(Vec<Problem>),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Saved, but the running bot could not take the new catalog.
    #[error("saved, but the catalog could not be reloaded: {0}")]
    Reload(#[from] crate::conversation::ConversationError),
    #[error("{0}")]
    Internal(String),
}
