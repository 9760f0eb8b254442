//! The intents' JSON endpoints (`/studio/api/intents…`): list, one intent, check an edit, save
//! it, preview templates with sample values; and "try it" (`/studio/api/try`). Thin handlers over
//! [`Studio`](crate::studio::Studio); leads and admins only.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::lead::Lead;
use crate::api::extract::ApiJson;
use crate::api::ApiError;
use crate::catalog::Intent;
use crate::studio::intents::{
    preview, CheckResult, IntentDetail, IntentList, Preview, PreviewRequest, SaveReceipt,
};
use crate::studio::try_it::{TryRequest, TryResult};
use crate::web::console::ConsoleState;

pub fn router() -> Router<ConsoleState> {
    Router::new()
        .route("/studio/api/intents", get(list))
        .route("/studio/api/intents/{name}", get(show).put(save))
        .route("/studio/api/intents/{name}/check", post(check))
        .route("/studio/api/preview", post(render_preview))
        .route("/studio/api/try", post(try_it))
}

/// Every intent with example counts per locale, template counts and the model's figures.
#[utoipa::path(get, path = "/studio/api/intents", tag = "studio",
    responses((status = 200, body = IntentList), (status = 403, body = crate::api::error::ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    _lead: Lead,
) -> Result<Json<IntentList>, ApiError> {
    Ok(Json(state.app.studio.intents()?))
}

/// One intent as in its file, with its training examples.
#[utoipa::path(get, path = "/studio/api/intents/{name}", tag = "studio",
    params(("name" = String, Path)),
    responses((status = 200, body = IntentDetail), (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn show(
    State(state): State<ConsoleState>,
    _lead: Lead,
    Path(name): Path<String>,
) -> Result<Json<IntentDetail>, ApiError> {
    Ok(Json(state.app.studio.intent(&name)?))
}

/// The problems an edited intent would have (`madoguchi validate`'s checks; empty: valid).
#[utoipa::path(post, path = "/studio/api/intents/{name}/check", tag = "studio",
    params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = CheckResult), (status = 422, body = crate::api::error::ErrorBody)))]
pub async fn check(
    State(state): State<ConsoleState>,
    _lead: Lead,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Intent>,
) -> Result<Json<CheckResult>, ApiError> {
    Ok(Json(state.app.studio.check_intent_edit(&name, &body)?))
}

/// Saves an edited intent to `intents/<name>.yaml`; says whether it applies at once or after a
/// retrain. 422 with every problem when it would not validate.
#[utoipa::path(put, path = "/studio/api/intents/{name}", tag = "studio",
    params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = SaveReceipt), (status = 404, body = crate::api::error::ErrorBody),
        (status = 422, body = crate::api::error::ErrorBody)))]
pub async fn save(
    State(state): State<ConsoleState>,
    Lead(session): Lead,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Intent>,
) -> Result<Json<SaveReceipt>, ApiError> {
    tracing::info!(lead = %session.account.name, intent = %name, "intent saved from the studio");
    let studio = &state.app.studio;
    let conversations = &state.app.conversations;
    let actor = &session.account.name;
    Ok(Json(
        studio
            .save_intent(conversations, actor, &name, body)
            .await?,
    ))
}

/// Renders one locale's templates of an intent being edited, with sample variable values.
#[utoipa::path(post, path = "/studio/api/preview", tag = "studio",
    request_body = PreviewRequest, responses((status = 200, body = Preview)))]
pub async fn render_preview(
    _lead: Lead,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>, ApiError> {
    Ok(Json(preview(&body)))
}

/// What the bot would do with a message, and the nearest training examples. Stores nothing.
#[utoipa::path(post, path = "/studio/api/try", tag = "studio",
    request_body = TryRequest,
    responses((status = 200, body = TryResult), (status = 422, body = crate::api::error::ErrorBody),
        (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn try_it(
    State(state): State<ConsoleState>,
    _lead: Lead,
    ApiJson(body): ApiJson<TryRequest>,
) -> Result<Json<TryResult>, ApiError> {
    Ok(Json(
        state
            .app
            .studio
            .try_it(&state.app.conversations, body)
            .await?,
    ))
}
