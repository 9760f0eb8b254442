//! The agent API: the handoff queue for people. Every route needs `Authorization: Bearer <agent
//! key>`; the agent is named by `X-Agent-Id` (default `agent`). Claims are atomic in the store: of
//! two agents claiming at once, one gets the ticket and the other 409.
use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{parse_id, require_key, ApiJson};
use super::AppState;
use crate::store::{Handoff, HandoffFilter, HandoffStatus, Message};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/handoffs", get(list))
        .route("/v1/handoffs/{ticket_id}", get(show))
        .route("/v1/handoffs/{ticket_id}/claim", post(claim))
        .route("/v1/handoffs/{ticket_id}/reply", post(reply))
        .route("/v1/handoffs/{ticket_id}/hand-back", post(hand_back))
        .route("/v1/handoffs/{ticket_id}/resolve", post(resolve))
}

/// Layer: the agent key is required on every agent route.
pub fn with_auth(router: Router<AppState>, state: AppState) -> Router<AppState> {
    router.route_layer(middleware::from_fn_with_state(state, require_agent))
}

async fn require_agent(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    require_key(req.headers(), state.config.agent_key.as_deref(), "agent")?;
    Ok(next.run(req).await)
}

fn agent_id(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("x-agent-id") {
        None => Ok("agent".into()),
        Some(v) => {
            let id = v
                .to_str()
                .map_err(|_| ApiError::BadRequest("X-Agent-Id must be ASCII".into()))?
                .trim();
            if id.is_empty() || id.len() > 128 {
                return Err(ApiError::Unprocessable(
                    "X-Agent-Id must be 1 to 128 characters".into(),
                ));
            }
            Ok(id.to_string())
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `waiting`, `claimed`, `returned` or `resolved`.
    pub status: Option<String>,
    pub intent: Option<String>,
    /// The customer's language.
    pub locale: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// A ticket with its place in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub handoff: Handoff,
    /// 1-based place in the queue while waiting.
    pub position: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    pub handoffs: Vec<Ticket>,
}

/// A ticket with the conversation's transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentReply {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// e.g. `refunded`, `answered`, `duplicate`.
    pub resolution_code: String,
}

async fn ticket(state: &AppState, handoff: Handoff) -> Result<Ticket, ApiError> {
    let position = if handoff.status == HandoffStatus::Waiting {
        state.store.queue_position(handoff.id).await?
    } else {
        None
    };
    Ok(Ticket { handoff, position })
}

async fn load(state: &AppState, ticket_id: &str) -> Result<Handoff, ApiError> {
    let id = parse_id(ticket_id, "ticket")?;
    state
        .store
        .handoff(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("ticket not found".into()))
}

/// The queue, oldest first.
#[utoipa::path(get, path = "/v1/handoffs", tag = "agent", security(("agent_key" = [])),
    params(ListQuery), responses((status = 200, body = TicketList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<TicketList>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(HandoffStatus::parse(s).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "unknown status {s:?}; use waiting, claimed, returned or resolved"
            ))
        })?),
    };
    let filter = HandoffFilter {
        status,
        intent: q.intent,
        locale: q.locale,
        limit: q.limit,
    };
    let mut handoffs = Vec::new();
    for h in state.store.list_handoffs(&filter).await? {
        handoffs.push(ticket(&state, h).await?);
    }
    Ok(Json(TicketList { handoffs }))
}

/// One ticket with its summary and the transcript.
#[utoipa::path(get, path = "/v1/handoffs/{ticket_id}", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    let h = load(&state, &ticket_id).await?;
    let messages = state.store.messages(h.conversation_id).await?;
    Ok(Json(TicketDetail {
        ticket: ticket(&state, h).await?,
        messages,
    }))
}

/// Take a waiting ticket.
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/claim", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&headers)?;
    let id = load(&state, &ticket_id).await?.id;
    let h = state.store.claim(id, &agent).await?;
    tracing::info!(ticket_id = %id, conversation_id = %h.conversation_id, agent, "ticket claimed");
    Ok(Json(ticket(&state, h).await?))
}

/// Write to the customer (delivered live on their event stream).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/reply", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)), request_body = AgentReply,
    responses((status = 200, body = Object), (status = 409, body = super::error::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AgentReply>,
) -> Result<Json<Message>, ApiError> {
    let agent = agent_id(&headers)?;
    if body.text.trim().is_empty() {
        return Err(ApiError::Unprocessable("text must not be empty".into()));
    }
    let id = load(&state, &ticket_id).await?.id;
    Ok(Json(state.store.agent_reply(id, &agent, &body.text).await?))
}

/// Give the conversation back to the bot (it answers the next message, keeping what it learnt).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/hand-back", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn hand_back(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&headers)?;
    let id = load(&state, &ticket_id).await?.id;
    let h = state.store.hand_back(id, &agent).await?;
    // The conversation is the bot's again: reset its dialogue state now. Best effort: should this
    // fail (or race with a customer message), the next turn does it anyway, since the store's
    // status is the truth about who has the conversation (see `turn`).
    if let Err(e) = super::turn::reset_after_hand_back(&state, h.conversation_id).await {
        tracing::warn!(error = %e, conversation_id = %h.conversation_id, "cannot reset the dialogue state");
    }
    Ok(Json(ticket(&state, h).await?))
}

/// Close the ticket with a resolution code (the conversation is resolved).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/resolve", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)), request_body = Resolve,
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Resolve>,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&headers)?;
    let code = body.resolution_code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(ApiError::Unprocessable(
            "resolution_code must be 1 to 64 characters".into(),
        ));
    }
    let id = load(&state, &ticket_id).await?.id;
    let h = state.store.resolve(id, &agent, code).await?;
    Ok(Json(ticket(&state, h).await?))
}
