//! The inbox's JSON endpoints (`/studio/api/inbox…`): the grouped listing with its filters, one
//! conversation's transcript around a message, an action on messages, and undo. Thin handlers over
//! [`Studio`](crate::studio::Studio); leads and admins only.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lead::Lead;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::ApiError;
use crate::store::Message;
use crate::studio::inbox::{InboxFilter, InboxPage};
use crate::studio::label::{DecideReceipt, DecideRequest, UndoReceipt};
use crate::web::console::ConsoleState;

pub fn router() -> Router<ConsoleState> {
    Router::new()
        .route("/studio/api/inbox", get(list))
        .route("/studio/api/inbox/actions", post(decide))
        .route("/studio/api/inbox/undo/{batch_id}", post(undo))
        .route("/studio/api/conversations/{id}/messages", get(transcript))
}

/// The inbox, grouped: largest group of near-duplicates first.
#[utoipa::path(get, path = "/studio/api/inbox", tag = "studio",
    params(
        ("since" = Option<String>, Query, description = "From (RFC 3339)"),
        ("until" = Option<String>, Query, description = "Until (RFC 3339, exclusive)"),
        ("locale" = Option<String>, Query), ("reason" = Option<String>, Query),
        ("intent" = Option<String>, Query, description = "Predicted intent (`none`: out of scope)"),
        ("min_confidence" = Option<f64>, Query), ("max_confidence" = Option<f64>, Query),
        ("q" = Option<String>, Query, description = "Text search"),
        ("similarity" = Option<f32>, Query, description = "Near-duplicate threshold (0.5–1)")),
    responses((status = 200, body = InboxPage), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    _lead: Lead,
    ApiQuery(filter): ApiQuery<InboxFilter>,
) -> Result<Json<InboxPage>, ApiError> {
    let page = state
        .app
        .studio
        .inbox(&state.app.conversations, &filter)
        .await?;
    Ok(Json(page))
}

/// Assign messages to an intent, mark them out of scope, ignore them, or create an intent for them.
#[utoipa::path(post, path = "/studio/api/inbox/actions", tag = "studio",
    request_body = DecideRequest,
    responses((status = 200, body = DecideReceipt), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody), (status = 422, body = crate::api::error::ErrorBody)))]
pub async fn decide(
    State(state): State<ConsoleState>,
    Lead(session): Lead,
    ApiJson(body): ApiJson<DecideRequest>,
) -> Result<Json<DecideReceipt>, ApiError> {
    let receipt = state
        .app
        .studio
        .decide(&state.app.conversations, &session.account.name, body)
        .await?;
    Ok(Json(receipt))
}

/// Undo one action: its messages come back, its lines leave the training data.
#[utoipa::path(post, path = "/studio/api/inbox/undo/{batch_id}", tag = "studio",
    params(("batch_id" = Uuid, Path)),
    responses((status = 200, body = UndoReceipt), (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn undo(
    State(state): State<ConsoleState>,
    Lead(session): Lead,
    Path(batch_id): Path<Uuid>,
) -> Result<Json<UndoReceipt>, ApiError> {
    let receipt = state
        .app
        .studio
        .undo(&state.app.conversations, &session.account.name, batch_id)
        .await?;
    Ok(Json(receipt))
}

/// A conversation's transcript, for the context of an inbox message.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudioTranscript {
    pub conversation_id: Uuid,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
}

#[utoipa::path(get, path = "/studio/api/conversations/{id}/messages", tag = "studio",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = StudioTranscript), (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn transcript(
    State(state): State<ConsoleState>,
    _lead: Lead,
    Path(id): Path<Uuid>,
) -> Result<Json<StudioTranscript>, ApiError> {
    let messages = state.app.store.messages(id).await?;
    if messages.is_empty() {
        return Err(ApiError::NotFound(format!("no conversation {id}")));
    }
    Ok(Json(StudioTranscript {
        conversation_id: id,
        messages,
    }))
}
