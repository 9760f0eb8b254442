//! The support lead's studio, `/studio`: the shell page and its assets (`shell`), and the JSON
//! endpoints under `/studio/api/…` (`inbox`, `intents`, `models`, `dashboard`) with their OpenAPI document
//! (`openapi`), each a thin handler over the studio's services
//! ([`crate::studio::Studio`], [`crate::studio::ModelService`]). Leads and admins only: an agent gets 403 (a page, or JSON), no
//! session a redirect to the login (or JSON 401); state-changing requests need the CSRF token
//! (the console's [`Session`](crate::web::console::Session) extractor checks both).
pub mod dashboard;
mod edit_error;
pub mod inbox;
pub mod intents;
pub mod lead;
pub mod models;
pub mod openapi;
pub mod shell;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::api::AppState;
use crate::web::console::limit::LoginLimiter;
use crate::web::console::ConsoleState;

/// The studio's pages and endpoints.
pub fn router(state: AppState) -> Router {
    let state = ConsoleState {
        app: state,
        // The studio has no login of its own (the console's login serves it).
        limiter: Arc::new(LoginLimiter::default()),
        dummy_hash: Arc::from(""),
    };
    Router::new()
        .route("/studio", get(shell::studio))
        .route("/studio/assets/{file}", get(shell::asset))
        .merge(inbox::router())
        .merge(intents::router())
        .merge(models::router())
        .merge(dashboard::router())
        .merge(openapi::router())
        .with_state(state)
}
