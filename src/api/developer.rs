//! The developer API: classify messages with the bot's model, without a conversation
//! (`Authorization: Bearer <key>`: a key with the `classify` scope, or the configured `api_key`;
//! rate-limited per key). Each result is exactly one line of
//! `madoguchi classify --format jsonl`.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::authorize;
use super::error::ApiError;
use super::extract::ApiJson;
use super::AppState;
use crate::store::ApiScope;

/// Most texts in one request.
pub const MAX_TEXTS: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/classify", post(classify))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// 1 to 64 non-empty messages.
    pub texts: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassifyResponse {
    /// One classification per text, in order: `{text, intent, confidence, action, reason,
    /// alternatives}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<crate::nlu::Classification>,
}

/// Classify one message or a batch.
#[utoipa::path(post, path = "/v1/classify", tag = "developer", security(("api_key" = [])),
    request_body = ClassifyRequest,
    responses((status = 200, body = ClassifyResponse), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClassifyRequest>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let caller = authorize(&state, &headers, ApiScope::Classify).await?;
    state.limits.tick();
    state.limits.classify_per_key.admit(&caller.limit_key())?;
    if body.texts.is_empty() || body.texts.len() > MAX_TEXTS {
        return Err(ApiError::Unprocessable(format!(
            "texts must hold 1 to {MAX_TEXTS} messages"
        )));
    }
    let results = state.conversations.classify(body.texts).await?;
    Ok(Json(ClassifyResponse { results }))
}
