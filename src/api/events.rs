//! Live streams (Server-Sent Events), fed by the conversation service's event bus.
//!
//! `GET /v1/conversations/{id}/events`: the conversation's messages (`message`, with the message
//! as JSON and its seq as the event id), who has it (`status`), an agent composing (`typing`), and
//! `end` once it is resolved. A reconnect with `Last-Event-ID` (or `?after=`) first replays what was
//! missed, so no message is lost or doubled. Browsers open it with a single-use `?ticket=` from
//! `POST /v1/conversations/{id}/events/ticket`, keeping the token out of URLs.
//!
//! `GET /v1/handoffs/events` (agent key): every bus event as JSON, for agent consoles.
use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use utoipa::ToSchema;

use super::chat::{authorize, authorize_token};
use super::error::ApiError;
use super::extract::{parse_id, ApiQuery};
use super::AppState;
use crate::conversation::customer::STREAM_TICKET_TTL;
use crate::conversation::StreamItem;
use crate::store::Conversation;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations/{id}/events", get(events))
        .route("/v1/conversations/{id}/events/ticket", post(ticket))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Deliver messages after this seq (default: `Last-Event-ID`, else only new messages).
    pub after: Option<i64>,
    /// A single-use stream ticket (browsers' EventSource cannot set headers).
    pub ticket: Option<String>,
    /// Deprecated: the customer token in the URL (ends up in proxy logs; use `ticket`).
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamTicket {
    /// Use as `?ticket=` on the events URL, once, within `expires_in` seconds.
    pub ticket: String,
    pub expires_in: u64,
}

/// A single-use ticket for the conversation's live stream.
#[utoipa::path(post, path = "/v1/conversations/{id}/events/ticket", tag = "customer",
    security(("customer_token" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = StreamTicket), (status = 401, body = super::error::ErrorBody)))]
pub async fn ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<StreamTicket>, ApiError> {
    let conversation = authorize(&state, &headers, &id).await?;
    let ticket = state.conversations.stream_ticket(&conversation).await?;
    Ok(Json(StreamTicket {
        ticket,
        expires_in: STREAM_TICKET_TTL.as_secs(),
    }))
}

/// The conversation's live stream (SSE).
#[utoipa::path(get, path = "/v1/conversations/{id}/events", tag = "customer",
    security(("customer_token" = [])), params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, description = "text/event-stream of `message`, `status`, `typing` and `end` events"),
        (status = 429, body = super::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = stream_access(&state, &id, &query, &headers).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = query
        .after
        .or(last_event_id)
        .unwrap_or(conversation.last_seq)
        .max(0);
    let items =
        state
            .conversations
            .conversation_stream(conversation.id, after, state.shutdown.clone())?;
    let stream = ReceiverStream::new(items).map(|item| Ok::<_, Infallible>(sse_event(item)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Who may open the stream: a ticket, the token header, or (deprecated) the token in the URL.
async fn stream_access(
    state: &AppState,
    id: &str,
    query: &EventsQuery,
    headers: &HeaderMap,
) -> Result<Conversation, ApiError> {
    if let Some(ticket) = &query.ticket {
        let id = parse_id(id, "conversation")?;
        return Ok(state.conversations.redeem_stream_ticket(id, ticket).await?);
    }
    match &query.token {
        Some(token) if !headers.contains_key(axum::http::header::AUTHORIZATION) => {
            authorize_token(state, token, id).await
        }
        _ => authorize(state, headers, id).await,
    }
}

fn sse_event(item: StreamItem) -> SseEvent {
    let event = match &item {
        StreamItem::Message(m) => SseEvent::default()
            .event("message")
            .id(m.seq.to_string())
            .json_data(m),
        StreamItem::Status { status, agent_id } => SseEvent::default()
            .event("status")
            .json_data(json!({ "status": status, "agent_id": agent_id })),
        StreamItem::Typing { role, agent_id } => SseEvent::default()
            .event("typing")
            .json_data(json!({ "role": role, "agent_id": agent_id })),
        StreamItem::End => Ok(SseEvent::default().event("end").data("resolved")),
    };
    event.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize a stream event (this is a bug)");
        SseEvent::default().comment("unserializable event skipped")
    })
}

/// Every event of the bus, for agent consoles (SSE, `event: <type>`, data: the event as JSON).
#[utoipa::path(get, path = "/v1/handoffs/events", tag = "agent", security(("agent_key" = [])),
    responses((status = 200, description = "text/event-stream of `queue`, `status`, `message`, `typing` and `resync` events")))]
pub async fn agent_events(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let events = state.conversations.agent_stream(state.shutdown.clone())?;
    let stream = ReceiverStream::new(events).map(|event| {
        let kind = serde_json::to_value(&event)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_else(|| "event".into());
        let sse = SseEvent::default()
            .event(kind)
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().comment("unserializable event skipped"));
        Ok::<_, Infallible>(sse)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
