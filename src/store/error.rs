//! Errors of the store layer.
//!
//! `Database` and `Migrate` carry driver detail for the logs; the API layer answers them with a
//! generic 500 and never puts their text in a response body. The others are safe to show.
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such conversation, message or ticket (or not one of the conversation's).
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: Uuid },
    /// The record is not in a state that allows this (claimed by someone else, resolved, …).
    #[error("{0}")]
    Conflict(String),
    /// The conversation changed (another turn, an agent) since the caller read the version its
    /// turn was computed from: read it again and recompute.
    #[error("conversation {id} changed since it was read")]
    Stale { id: Uuid },
    /// The conversation already has a message with this client_message_id (a resend: look the
    /// stored turn up with `turn_by_client_message_id`).
    #[error("a message with this client_message_id is already stored")]
    DuplicateClientMessage,
    /// The caller's input breaks a rule (CSAT outside 1–5, empty text, …).
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names no dialect we speak. Holds the scheme only (never credentials).
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, id: Uuid) -> Self {
        StoreError::NotFound { what, id }
    }

    /// Maps constraint violations to `Conflict`/`Invalid` (described by `context`); other errors
    /// pass through.
    pub(crate) fn from_write(err: sqlx::Error, context: &str) -> Self {
        use sqlx::error::ErrorKind;
        let kind = err.as_database_error().map(|e| e.kind());
        match kind {
            Some(ErrorKind::UniqueViolation) => StoreError::Conflict(context.to_string()),
            Some(ErrorKind::CheckViolation) | Some(ErrorKind::NotNullViolation) => {
                let constraint = err
                    .as_database_error()
                    .and_then(|e| e.constraint().map(str::to_string));
                StoreError::Invalid(match constraint {
                    Some(name) => format!("{context}: constraint {name} violated"),
                    None => format!("{context}: a value breaks a constraint"),
                })
            }
            _ => StoreError::Database(err),
        }
    }

    /// A write naming a record that does not exist (a foreign key violation) is `NotFound`;
    /// other errors as for [`StoreError::from_write`].
    pub(crate) fn from_reference(
        err: sqlx::Error,
        what: &'static str,
        id: Uuid,
        context: &str,
    ) -> Self {
        let kind = err.as_database_error().map(|e| e.kind());
        match kind {
            Some(sqlx::error::ErrorKind::ForeignKeyViolation) => StoreError::not_found(what, id),
            _ => StoreError::from_write(err, context),
        }
    }

    /// A stored value that does not decode (a bug or a hand-edited database).
    pub(crate) fn corrupt(what: String) -> Self {
        StoreError::Database(sqlx::Error::Decode(what.into()))
    }
}
