//! The support leads' studio (`/studio`): its pages and JSON endpoints over `studio`.
//!
//! In this branch only the KPI dashboard: `dashboard` (the `/studio/api/kpis…` endpoints) and
//! `standalone` (the Dashboard tab on a page of its own, `/studio/dashboard`). The studio shell
//! and its router replace this file at merge; it needs only `.merge(dashboard::router())`.
pub mod dashboard;
pub mod standalone;

use std::sync::Arc;

use axum::Router;

use crate::api::AppState;
use crate::web::console::{limit, ConsoleState};

/// The studio's routes, with the console's state (sessions are the console's).
pub fn router(app: AppState) -> Router {
    let state = ConsoleState {
        app,
        limiter: Arc::new(limit::LoginLimiter::default()),
        dummy_hash: Arc::from(""),
    };
    Router::new()
        .merge(dashboard::router())
        .merge(standalone::router())
        .with_state(state)
}
