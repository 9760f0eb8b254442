//! Erasure on request for admins (`POST /agent/api/erasures`): deletes one customer's data
//! through the conversation service and answers what was deleted. The customer id travels in the
//! JSON body, never in the URL (URLs reach the request logs). Needs the admin role (and, like every
//! console POST, the CSRF token); the audit log records the admin and the customer id.
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::session::Session;
use super::state::ConsoleState;
use crate::api::extract::ApiJson;
use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::store::Erased;

/// Whose data to erase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The `id` of the customer metadata conversations were started with, or a LINE user id.
    pub customer_id: String,
}

pub async fn erase(
    State(state): State<ConsoleState>,
    session: Session,
    ApiJson(body): ApiJson<EraseRequest>,
) -> Result<Json<Erased>, ApiError> {
    session.require(AccountRole::Admin)?;
    let erased = state
        .app
        .conversations
        .erase_customer(&body.customer_id, &session.account.name)
        .await?;
    Ok(Json(erased))
}
