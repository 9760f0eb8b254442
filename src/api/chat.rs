//! The customer API: start a conversation, send messages, read the transcript, feedback, CSAT, end.
//! A conversation is reached only with its customer token (`Authorization: Bearer <token>`).
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{bearer, parse_id, ApiJson, ApiJsonOrDefault};
use super::AppState;
use crate::conversation::customer::CustomerTicket;
use crate::conversation::TurnReply;
use crate::domain::ClientMessageId;
use crate::store::{Conversation, Message};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations", post(start))
        .route("/v1/conversations/{id}", axum::routing::get(transcript))
        .route("/v1/conversations/{id}/messages", post(send_message))
        .route(
            "/v1/conversations/{id}/messages/{message_id}/feedback",
            post(feedback),
        )
        .route("/v1/conversations/{id}/csat", post(csat))
        .route("/v1/conversations/{id}/end", post(end))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversation {
    /// `ja`, `en`, … (a locale of the catalog); detected from each message when absent.
    pub locale: Option<String>,
    /// Customer metadata: `id`, `name`, `email`, `order_ids`, …
    #[schema(value_type = Option<Object>)]
    pub customer: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationCreated {
    pub id: Uuid,
    /// The customer's bearer token for this conversation (shown once).
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub text: String,
    /// The client's id for this message (1–64 visible ASCII characters). A resend with the same
    /// id (a network retry, a double click, a reload) gets the same answer and stores nothing new.
    #[schema(value_type = Option<String>, example = "m-1701234567-1")]
    pub client_message_id: Option<ClientMessageId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    pub id: Uuid,
    pub status: String,
    #[schema(value_type = Option<String>)]
    pub locale: Option<crate::domain::Locale>,
    #[schema(value_type = Option<Object>)]
    pub customer: Option<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub csat_score: Option<u8>,
    pub csat_comment: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
    /// The open ticket (waiting for or with a person); null when the bot has the conversation.
    pub handoff: Option<CustomerTicket>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub helpful: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Csat {
    /// 1 (bad) … 5 (excellent).
    pub score: i64,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ack {
    pub id: Uuid,
    pub status: String,
}

/// The conversation `id`, if `headers` carry its token: 401 without a token, 404 for an unknown
/// conversation, 403 for another conversation's token.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Conversation, ApiError> {
    let token = bearer(headers)?;
    authorize_token(state, token, id).await
}

pub async fn authorize_token(
    state: &AppState,
    token: &str,
    id: &str,
) -> Result<Conversation, ApiError> {
    let id = parse_id(id, "conversation")?;
    Ok(state.conversations.authorize(id, token).await?)
}

/// Start a conversation.
#[utoipa::path(post, path = "/v1/conversations", tag = "customer",
    request_body = StartConversation,
    responses((status = 201, body = ConversationCreated), (status = 413, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    ApiJsonOrDefault(body): ApiJsonOrDefault<StartConversation>,
) -> Result<(StatusCode, Json<ConversationCreated>), ApiError> {
    if let Some(ip) = state.limits.client_ip(&headers, &extensions) {
        state.limits.tick();
        state.limits.conversations_per_ip.admit(&ip)?;
    }
    let started = state
        .conversations
        .start(body.locale.as_deref(), body.customer)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConversationCreated {
            id: started.conversation.id,
            token: started.token,
        }),
    ))
}

/// Send a customer message; the answer is the bot's turn.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "customer",
    request_body = SendMessage, security(("customer_token" = [])),
    params(("id" = Uuid, Path, description = "conversation id")),
    responses((status = 200, body = TurnReply), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<Json<TurnReply>, ApiError> {
    let conversation = authorize(&state, &headers, &id).await?;
    state
        .limits
        .messages_per_conversation
        .admit(&conversation.id)?;
    let reply = state
        .conversations
        .customer_turn(&conversation, &body.text, body.client_message_id.as_ref())
        .await?;
    Ok(Json(reply))
}

/// The transcript.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "customer", security(("customer_token" = [])),
    params(("id" = Uuid, Path, description = "conversation id")),
    responses((status = 200, body = Transcript), (status = 403, body = super::error::ErrorBody)))]
pub async fn transcript(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Transcript>, ApiError> {
    let c = authorize(&state, &headers, &id).await?;
    let messages = state.conversations.transcript(&c).await?;
    let handoff = state.conversations.customer_ticket(&c).await?;
    Ok(Json(Transcript {
        id: c.id,
        status: c.status.as_str().to_string(),
        locale: c.locale,
        customer: c.customer,
        created_at: c.created_at,
        resolved_at: c.resolved_at,
        csat_score: c.csat_score,
        csat_comment: c.csat_comment,
        messages,
        handoff,
    }))
}

/// "Did this help?" on a bot message.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages/{message_id}/feedback", tag = "customer",
    request_body = Feedback, security(("customer_token" = [])),
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)))]
pub async fn feedback(
    State(state): State<AppState>,
    Path((id, message_id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Feedback>,
) -> Result<Json<Message>, ApiError> {
    let c = authorize(&state, &headers, &id).await?;
    let message_id = parse_id(&message_id, "message")?;
    let message = state
        .conversations
        .feedback(&c, message_id, body.helpful, body.comment)
        .await?;
    Ok(Json(message))
}

/// Customer satisfaction at the end (1–5 and a comment).
#[utoipa::path(post, path = "/v1/conversations/{id}/csat", tag = "customer",
    request_body = Csat, security(("customer_token" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Transcript), (status = 422, body = super::error::ErrorBody)))]
pub async fn csat(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Csat>,
) -> Result<Json<Ack>, ApiError> {
    let c = authorize(&state, &headers, &id).await?;
    let c = state
        .conversations
        .csat(&c, body.score, body.comment)
        .await?;
    Ok(Json(Ack {
        id: c.id,
        status: c.status.as_str().to_string(),
    }))
}

/// The customer is done: the conversation is resolved.
#[utoipa::path(post, path = "/v1/conversations/{id}/end", tag = "customer",
    security(("customer_token" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Ack)))]
pub async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Ack>, ApiError> {
    let c = authorize(&state, &headers, &id).await?;
    let c = state.conversations.end(&c).await?;
    Ok(Json(Ack {
        id: c.id,
        status: c.status.as_str().to_string(),
    }))
}
