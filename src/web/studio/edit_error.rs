//! How the studio's errors answer over HTTP (422 bad input or an edit that would not validate,
//! 404, 409, 429/503 from the classifier queue, 500 with the detail logged).
use crate::api::ApiError;
use crate::catalog::CatalogError;
use crate::studio::EditError;

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Invalid(m) => ApiError::Unprocessable(m),
            EditError::NotFound(m) => ApiError::NotFound(m),
            EditError::Conflict(m) => ApiError::Conflict(m),
            e @ EditError::Rejected(_) => ApiError::Unprocessable(e.to_string()),
            EditError::Catalog(e @ CatalogError::Invalid(_)) => {
                ApiError::Unprocessable(e.to_string())
            }
            EditError::Catalog(e) => ApiError::Internal(e.to_string()),
            EditError::Store(e) => e.into(),
            EditError::Queue(e) => e.into(),
            EditError::Reload(e) => e.into(),
            EditError::Internal(m) => ApiError::Internal(m),
        }
    }
}
