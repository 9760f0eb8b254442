//! [`ApiError`]: every error the HTTP API answers with, and the only place that maps errors to HTTP
//! statuses. The body is always `{"error": {"code", "message"}}`; internal errors are logged with
//! their detail and answered with a generic message.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::conversation::ConversationError;
use crate::nlu::queue::QueueError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the queue is full.
const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not UTF-8).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials for something else (another customer's conversation).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The record is not in a state that allows this (resolved conversation, claimed ticket, …).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Well-formed JSON with bad field values (empty text, CSAT out of range, …).
    #[error("{0}")]
    Unprocessable(String),
    /// The inference queue is full: retry later.
    #[error("the service is busy; retry in a moment")]
    Overloaded,
    /// Too many of something at once (live streams): retry later.
    #[error("{0}")]
    TooMany(String),
    /// Over a rate limit: retry after `retry_after` seconds.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// The model is not loaded or the database does not answer.
    #[error("{0}")]
    NotReady(String),
    /// Anything else; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `unprocessable`, `overloaded`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded | ApiError::TooMany(_) | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Overloaded => "overloaded",
            ApiError::TooMany(_) => "too_many",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after, .. } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from((*retry_after).max(1)),
            );
        }
        if matches!(self, ApiError::Overloaded | ApiError::TooMany(_)) {
            if matches!(self, ApiError::Overloaded) {
                metrics::counter!(crate::telemetry::QUEUE_REJECTED).increment(1);
            }
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            e @ ConversationError::Forbidden => ApiError::Forbidden(e.to_string()),
            ConversationError::Unauthorized(m) => ApiError::Unauthorized(m),
            ConversationError::Invalid(m) => ApiError::Unprocessable(m),
            ConversationError::Conflict(m) => ApiError::Conflict(m),
            ConversationError::Busy => ApiError::Overloaded,
            ConversationError::TooManyStreams(m) => ApiError::TooMany(m),
            ConversationError::NotReady(m) => ApiError::NotReady(m),
            ConversationError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::Unprocessable(m),
            e @ StoreError::Stale { .. } => {
                ApiError::Conflict(format!("{e} too many times; send the message again"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Full => ApiError::Overloaded,
            QueueError::NotReady => ApiError::NotReady(
                "the model is not loaded (loading or restarting); retry shortly".into(),
            ),
            QueueError::Closed | QueueError::Failed(_) => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_detail_is_not_sent() {
        let r = ApiError::internal("sqlite: disk I/O error at /secret/path").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[test]
    fn overloaded_says_when_to_retry() {
        let r = ApiError::Overloaded.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(1u64))
        );
    }
}
