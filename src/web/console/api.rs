//! The console's JSON endpoints (`/agent/api/…`), authenticated by the session cookie (and the
//! CSRF token on every POST): the queue, a ticket, and the agent's actions on it, each attributed
//! to the session's account and done by the conversation service (the same path as the agent
//! API, so replies reach the customer's stream). Plain agents see the waiting tickets and their
//! own; leads and admins see every ticket.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::session::Session;
use crate::api::agent::{AgentReply, NewNote, Resolve};
use crate::api::extract::{parse_id, ApiJson, ApiQuery};
use crate::api::{ApiError, AppState};
use crate::conversation::{Ticket, TicketDetail};
use crate::domain::{AccountRole, HandoffStatus, Locale};
use crate::store::{Handoff, HandoffFilter, Message, Note};

/// Which part of the queue.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Waiting for a person (and those handed back, which can be claimed again).
    #[default]
    Waiting,
    /// Claimed by me.
    Mine,
    /// Every open ticket (leads).
    All,
    /// Closed tickets (leads).
    Resolved,
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    pub view: View,
    /// The customer's language.
    pub locale: Option<String>,
    /// The handoff reason code.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub name: String,
    pub display_name: String,
    pub role: AccountRole,
}

/// `GET /agent/api/me`.
pub async fn me(session: Session) -> Json<Me> {
    Json(Me {
        name: session.account.name,
        display_name: session.account.display_name,
        role: session.account.role,
    })
}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub tickets: Vec<Ticket>,
}

fn in_view(view: View, handoff: &Handoff, me: &str) -> bool {
    match view {
        View::Waiting => matches!(
            handoff.status,
            HandoffStatus::Waiting | HandoffStatus::Returned
        ),
        View::Mine => {
            handoff.status == HandoffStatus::Claimed && handoff.claimed_by.as_deref() == Some(me)
        }
        View::All => handoff.status != HandoffStatus::Resolved,
        View::Resolved => handoff.status == HandoffStatus::Resolved,
    }
}

/// `GET /agent/api/tickets?view=&locale=&reason=`: oldest first.
pub async fn queue(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<Queue>, ApiError> {
    if matches!(q.view, View::All | View::Resolved) {
        session.require(AccountRole::Lead)?;
    }
    let locale = q
        .locale
        .filter(|l| !l.is_empty())
        .map(Locale::try_from)
        .transpose()
        .map_err(ApiError::Unprocessable)?;
    let status = (q.view == View::Resolved).then_some(HandoffStatus::Resolved);
    let filter = HandoffFilter {
        status,
        locale,
        limit: Some(500),
        ..HandoffFilter::default()
    };
    let reason = q.reason.filter(|r| !r.is_empty());
    let me = &session.account.name;
    let tickets = state
        .conversations
        .tickets(&filter)
        .await?
        .into_iter()
        .filter(|t| in_view(q.view, &t.handoff, me))
        .filter(|t| {
            reason
                .as_deref()
                .is_none_or(|r| t.handoff.reason.as_str() == r)
        })
        .collect();
    Ok(Json(Queue { tickets }))
}

/// Plain agents may open the tickets they could claim and their own.
fn may_see(session: &Session, handoff: &Handoff) -> bool {
    session.account.role.at_least(AccountRole::Lead)
        || in_view(View::Waiting, handoff, &session.account.name)
        || handoff.claimed_by.as_deref() == Some(session.account.name.as_str())
}

/// `GET /agent/api/tickets/{id}`: the summary, the transcript and the notes.
pub async fn ticket(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    let detail = state.conversations.ticket(parse_id(&id, "ticket")?).await?;
    if !may_see(&session, &detail.ticket.handoff) {
        return Err(ApiError::Forbidden(
            "another agent has this ticket (leads can open every ticket)".into(),
        ));
    }
    Ok(Json(detail))
}

pub async fn claim(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = state
        .conversations
        .claim(parse_id(&id, "ticket")?, &session.account.name)
        .await?;
    Ok(Json(ticket))
}

pub async fn reply(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgentReply>,
) -> Result<Json<Message>, ApiError> {
    let message = state
        .conversations
        .agent_reply(parse_id(&id, "ticket")?, &session.account.name, &body.text)
        .await?;
    Ok(Json(message))
}

pub async fn typing(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .conversations
        .agent_typing(parse_id(&id, "ticket")?, &session.account.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_note(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewNote>,
) -> Result<Json<Note>, ApiError> {
    let note = state
        .conversations
        .add_note(parse_id(&id, "ticket")?, &session.account.name, &body.text)
        .await?;
    Ok(Json(note))
}

pub async fn hand_back(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = state
        .conversations
        .hand_back(parse_id(&id, "ticket")?, &session.account.name)
        .await?;
    Ok(Json(ticket))
}

pub async fn resolve(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Resolve>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = state
        .conversations
        .resolve_ticket(
            parse_id(&id, "ticket")?,
            &session.account.name,
            &body.resolution_code,
        )
        .await?;
    Ok(Json(ticket))
}

/// `GET /agent/api/events`: the agents' live stream (queue, status, message, typing).
pub async fn events(
    state: State<AppState>,
    _session: Session,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::events::agent_events(state).await
}

#[derive(Debug, Serialize)]
pub struct Canned {
    pub replies: Vec<crate::conversation::CannedReply>,
}

/// `GET /agent/api/tickets/{id}/canned`: the intent's templates, rendered for this conversation.
pub async fn canned(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Canned>, ApiError> {
    let id = parse_id(&id, "ticket")?;
    let detail = state.conversations.ticket(id).await?;
    if !may_see(&session, &detail.ticket.handoff) {
        return Err(ApiError::Forbidden("another agent has this ticket".into()));
    }
    let replies = state.conversations.canned_replies(id).await?;
    Ok(Json(Canned { replies }))
}
