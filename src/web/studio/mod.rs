//! The support lead's studio (`/studio`). This branch serves the model endpoints only
//! (`models`); the shell page and the other tabs' endpoints are merged in beside them.
pub mod models;

use std::sync::Arc;

use axum::Router;

use crate::api::AppState;
use crate::web::console::{limit, password, ConsoleState};

pub fn router(state: AppState) -> Router {
    let dummy_hash = password::hash_password(&password::random_password()).unwrap_or_default();
    let console = ConsoleState {
        app: state,
        limiter: Arc::new(limit::LoginLimiter::default()),
        dummy_hash: dummy_hash.into(),
    };
    models::router().with_state(console)
}
