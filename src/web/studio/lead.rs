//! [`Lead`]: the console session of a lead or an admin — the extractor every studio endpoint
//! takes first, so an agent is refused (403) before the body is even read.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::web::console::{ConsoleState, Session};

/// A live session (CSRF-checked on state-changing requests) whose role is lead or admin.
pub struct Lead(pub Session);

impl FromRequestParts<ConsoleState> for Lead {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        session.require(AccountRole::Lead)?;
        Ok(Lead(session))
    }
}
