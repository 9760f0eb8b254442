//! The agent console (`/agent`): per-person accounts with roles, login sessions, the live queue
//! and the ticket view.
//!
//! - `password`: argon2id hashing; `session`: login/logout and the [`Session`] extractor (with
//!   the CSRF check); `session_store`: the sessions on tower-sessions, kept in our store (the
//!   cookie, expiry, revocation); `limit`: login rate limits.
//! - `pages`: the login page, the console shell and the embedded assets of `web/console/`.
//! - `api`: the console's JSON endpoints over the conversation service; `users`: account
//!   management for admins; `privacy`: erasing a customer's data (admins).
//!
//! Pages without a session redirect to `/agent/login`; JSON endpoints answer 401, a missing CSRF
//! token 403, a role too low 403.
pub mod admin_bridge;
pub mod api;
pub mod limit;
pub mod pages;
pub mod password;
pub mod privacy;
pub mod session;
pub mod session_store;
pub(crate) mod shell;
mod state;
pub mod users;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use session::Session;
pub use session_store::{layer as session_layer, StoreSessions};
pub use state::ConsoleState;

use crate::api::AppState;

pub fn router(state: AppState) -> Router {
    let dummy_hash = password::hash_password(&password::random_password()).unwrap_or_default();
    let state = ConsoleState {
        limiter: Arc::new(limit::LoginLimiter::new(&state.config)),
        app: state,
        dummy_hash: dummy_hash.into(),
    };
    Router::new()
        .route("/agent", get(shell::console))
        .route("/agent/login", get(pages::login_form).post(session::login))
        .route("/agent/logout", post(session::logout))
        .route("/agent/assets/{file}", get(pages::asset))
        .route("/agent/api/me", get(api::me))
        .route("/agent/api/tickets", get(api::queue))
        .route("/agent/api/tickets/{id}", get(api::ticket))
        .route("/agent/api/tickets/{id}/canned", get(api::canned))
        .route("/agent/api/tickets/{id}/claim", post(api::claim))
        .route("/agent/api/tickets/{id}/reply", post(api::reply))
        .route("/agent/api/tickets/{id}/typing", post(api::typing))
        .route("/agent/api/tickets/{id}/notes", post(api::add_note))
        .route("/agent/api/tickets/{id}/hand-back", post(api::hand_back))
        .route("/agent/api/tickets/{id}/resolve", post(api::resolve))
        .route("/agent/api/events", get(api::events))
        .route("/agent/api/users", get(users::list).post(users::add))
        .route(
            "/agent/api/users/{name}/disabled",
            post(users::set_disabled),
        )
        .route(
            "/agent/api/users/{name}/password",
            post(users::set_password),
        )
        .route("/agent/api/erasures", post(privacy::erase))
        .with_state(state)
}
