//! Request extractors that answer in the API's error shape: a JSON body ([`ApiJson`]: 400 for
//! malformed JSON or invalid UTF-8, 422 for wrong fields or NUL, 413 over the body limit), a query
//! string ([`ApiQuery`]: 400 when malformed) and bearer credentials.
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;

/// A JSON body (any or no content type is accepted).
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (an empty body gives `T::default()`).
pub struct ApiJsonOrDefault<T>(pub T);

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the request body is larger than the server accepts".into())
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {rejection}"))
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::BadRequest(
            "the request body is not valid UTF-8".into(),
        ));
    }
    if bytes.contains(&0) || has_nul_escape(bytes) {
        // PostgreSQL cannot store NUL in text, and no customer or agent means to send it.
        return Err(ApiError::Unprocessable(
            "text must not contain NUL (U+0000, `\\u0000`)".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::Unprocessable(format!("invalid request: {e}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))
            }
        }
    })
}

/// Whether a JSON text holds the escape `\u0000` (NUL) — an escaped backslash followed by
/// `u0000` is the six characters, not NUL.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S, T> FromRequest<S> for ApiJsonOrDefault<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrDefault(T::default()));
        }
        parse_json(&bytes).map(ApiJsonOrDefault)
    }
}

/// A query string (`?a=1&b=x`): a malformed one is a 400 in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::BadRequest(format!("bad query string: {}", e.body_text())))
    }
}

/// The bearer token of `Authorization`, or 401.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer header".into()))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>".into(),
        ));
    }
    Ok(token.trim())
}

/// A path id; anything that is not a UUID cannot name a record, so it is a 404.
pub fn parse_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound(format!("{what} not found")))
}
