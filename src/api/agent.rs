//! The agent API: the handoff queue for people. Every route needs `Authorization: Bearer <agent
//! key>`; every action (claim, reply, note, typing, hand back, resolve) is attributed to the
//! account named by `X-Agent-Id`, which must be an existing, active account (else 403): the key
//! vouches for the integration, the header says which person acts. Claims are atomic in the store: of
//! two agents claiming at once, one gets the ticket and the other 409. Handlers are thin: the
//! conversation service does the work and announces every change on the event bus.
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::authorize;
use super::error::ApiError;
use super::extract::{parse_id, ApiJson, ApiQuery};
use super::AppState;
pub use crate::conversation::{Ticket, TicketDetail};
use crate::domain::{IntentName, Locale};
use crate::store::{HandoffFilter, HandoffStatus, Message, Note};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/handoffs", get(list))
        .route("/v1/handoffs/{ticket_id}", get(show))
        .route("/v1/handoffs/{ticket_id}/claim", post(claim))
        .route("/v1/handoffs/{ticket_id}/reply", post(reply))
        .route("/v1/handoffs/{ticket_id}/hand-back", post(hand_back))
        .route("/v1/handoffs/{ticket_id}/resolve", post(resolve))
        .route("/v1/handoffs/{ticket_id}/notes", post(add_note))
        .route("/v1/handoffs/{ticket_id}/typing", post(typing))
        .route("/v1/handoffs/events", get(super::events::agent_events))
}

/// Layer: a key with the agent scope (or the configured agent key) is required on every agent
/// route.
pub fn with_auth(router: Router<AppState>, state: AppState) -> Router<AppState> {
    router.route_layer(middleware::from_fn_with_state(state, require_agent))
}

async fn require_agent(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    authorize(&state, req.headers(), crate::store::ApiScope::Agent).await?;
    Ok(next.run(req).await)
}

/// The account the action is attributed to: `X-Agent-Id` must name an active account.
async fn agent_id(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let refused = || ApiError::Forbidden("X-Agent-Id must name an existing, active account".into());
    let id = headers
        .get("x-agent-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(refused)?;
    match state.store.account(id).await? {
        Some(account) if !account.disabled => Ok(account.name),
        _ => Err(refused()),
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

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    pub handoffs: Vec<Ticket>,
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

fn ticket_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    parse_id(text, "ticket")
}

/// The queue, oldest first.
#[utoipa::path(get, path = "/v1/handoffs", tag = "agent", security(("agent_key" = [])),
    params(ListQuery), responses((status = 200, body = TicketList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<TicketList>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(HandoffStatus::parse(s).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "unknown status {s:?}; use waiting, claimed, returned or resolved"
            ))
        })?),
    };
    let unprocessable = |e: String| ApiError::Unprocessable(e);
    let filter = HandoffFilter {
        status,
        intent: q
            .intent
            .map(IntentName::try_from)
            .transpose()
            .map_err(unprocessable)?,
        locale: q
            .locale
            .map(Locale::try_from)
            .transpose()
            .map_err(unprocessable)?,
        limit: q.limit,
    };
    let handoffs = state.conversations.tickets(&filter).await?;
    Ok(Json(TicketList { handoffs }))
}

/// One ticket with its summary and the transcript.
#[utoipa::path(get, path = "/v1/handoffs/{ticket_id}", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    let detail = state.conversations.ticket(ticket_id(&id)?).await?;
    Ok(Json(detail))
}

/// Take a waiting ticket.
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/claim", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    let ticket = state.conversations.claim(ticket_id(&id)?, &agent).await?;
    Ok(Json(ticket))
}

/// Write to the customer (delivered live on their event stream).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/reply", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)), request_body = AgentReply,
    responses((status = 200, body = Object), (status = 409, body = super::error::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AgentReply>,
) -> Result<Json<Message>, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    let message = state
        .conversations
        .agent_reply(ticket_id(&id)?, &agent, &body.text)
        .await?;
    Ok(Json(message))
}

/// Give the conversation back to the bot (it answers the next message, keeping what it learnt).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/hand-back", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn hand_back(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    let ticket = state
        .conversations
        .hand_back(ticket_id(&id)?, &agent)
        .await?;
    Ok(Json(ticket))
}

/// Close the ticket with a resolution code (the conversation is resolved).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/resolve", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)), request_body = Resolve,
    responses((status = 200, body = Ticket), (status = 409, body = super::error::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Resolve>,
) -> Result<Json<Ticket>, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    let ticket = state
        .conversations
        .resolve_ticket(ticket_id(&id)?, &agent, &body.resolution_code)
        .await?;
    Ok(Json(ticket))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub text: String,
}

/// A private note on the ticket (agents only; never shown to the customer).
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/notes", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)), request_body = NewNote,
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewNote>,
) -> Result<Json<Note>, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    let note = state
        .conversations
        .add_note(ticket_id(&id)?, &agent, &body.text)
        .await?;
    Ok(Json(note))
}

/// The agent is composing a reply: the customer's page shows a typing indicator.
#[utoipa::path(post, path = "/v1/handoffs/{ticket_id}/typing", tag = "agent", security(("agent_key" = [])),
    params(("ticket_id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = super::error::ErrorBody)))]
pub async fn typing(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::http::StatusCode, ApiError> {
    let agent = agent_id(&state, &headers).await?;
    state
        .conversations
        .agent_typing(ticket_id(&id)?, &agent)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
