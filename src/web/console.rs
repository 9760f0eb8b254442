//! The agent console (`/agent`): login with per-agent accounts, the live queue, tickets.
use axum::Router;

use crate::api::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}
