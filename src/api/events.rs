//! Live delivery to the customer (Server-Sent Events): every new message of the conversation (an
//! agent's reply above all) as an event `message` with the message as JSON and its seq as event id.
//! The stream polls the store (`messages_after`), so it works whichever replica the agent used.
//! It ends with an event `end` when the conversation is resolved, or when the server shuts down.
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::chat::{authorize, authorize_token};
use super::error::ApiError;
use super::AppState;
use crate::store::ConversationStatus;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/conversations/{id}/events", get(events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Deliver messages after this seq (default: the last one now, i.e. only new messages).
    pub after: Option<i64>,
    /// The customer token, for clients that cannot set headers (browser EventSource).
    pub token: Option<String>,
}

/// Live messages of the conversation (SSE).
#[utoipa::path(get, path = "/v1/conversations/{id}/events", tag = "customer",
    security(("customer_token" = [])), params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, description = "text/event-stream of `message` events")))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = match &query.token {
        Some(token) if !headers.contains_key(axum::http::header::AUTHORIZATION) => {
            authorize_token(&state, token, &id).await?
        }
        _ => authorize(&state, &headers, &id).await?,
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let mut after = query
        .after
        .or(last_event_id)
        .unwrap_or(conversation.last_seq);
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let poll = Duration::from_millis(state.config.sse_poll_ms);
    let id = conversation.id;
    let mut shutdown = state.shutdown.clone();
    let span = tracing::info_span!("sse", conversation_id = %id);
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            loop {
                if *shutdown.borrow() {
                    break;
                }
                match state.store.messages_after(id, after).await {
                    Ok(messages) => {
                        for m in messages {
                            after = m.seq;
                            let event = Event::default()
                                .event("message")
                                .id(m.seq.to_string())
                                .json_data(&m);
                            let Ok(event) = event else { continue };
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot poll messages"),
                }
                if let Ok(Some(c)) = state.store.conversation(id).await {
                    if c.status == ConversationStatus::Resolved && c.last_seq <= after {
                        let _ = tx
                            .send(Ok(Event::default().event("end").data("resolved")))
                            .await;
                        return;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        },
        span,
    ));
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}
