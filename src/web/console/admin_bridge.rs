//! Lets an admin's console session stand in for an admin-scope key on the API's admin and
//! operations routes (`/v1/admin/…`, and `/metrics`, `/docs`, `/openapi.json` when restricted):
//! for such a request with a live admin session (and the CSRF token when it changes state), the
//! request is marked with [`ConsoleAdmin`], which the API layer accepts. The API cannot see
//! sessions itself (they are the web layer's).
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::limit::LoginLimiter;
use super::session::{self, changes_state, same_secret, CSRF_HEADER};
use super::state::ConsoleState;
use crate::api::auth::ConsoleAdmin;
use crate::api::AppState;
use crate::domain::AccountRole;

/// Paths where a console session may act as admin.
fn bridged(path: &str) -> bool {
    path.starts_with("/v1/admin/")
        || path == "/v1/admin"
        || path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
}

/// Wraps `app` (inside the session layer) with the bridge.
pub fn wrap(app: Router, state: AppState) -> Router {
    let state = ConsoleState {
        app: state,
        // The bridge logs nobody in: it only reads sessions.
        limiter: Arc::new(LoginLimiter::default()),
        dummy_hash: Arc::from(""),
    };
    app.layer(middleware::from_fn_with_state(state, mark_admin))
}

async fn mark_admin(State(state): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    if bridged(req.uri().path()) {
        let tower = req.extensions().get::<tower_sessions::Session>().cloned();
        let csrf = changes_state(req.method()).then(|| {
            req.headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        });
        if let Some(name) = console_admin(&state, tower, csrf).await {
            req.extensions_mut().insert(ConsoleAdmin(name));
        }
    }
    next.run(req).await
}

/// The admin's account name, if `tower` is a live admin session and `csrf` (sent when the request
/// changes state) is its token.
async fn console_admin(
    state: &ConsoleState,
    tower: Option<tower_sessions::Session>,
    csrf: Option<String>,
) -> Option<String> {
    let session = session::current(state, &tower?).await.ok().flatten()?;
    if !session.account.role.at_least(AccountRole::Admin) {
        return None;
    }
    if let Some(sent) = csrf {
        if !same_secret(&sent, &session.csrf_token) {
            return None;
        }
    }
    Some(session.account.name)
}
