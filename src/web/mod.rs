//! The web faces, served by the same binary as the API: the customer chat widget and the demo shop
//! that embeds it (`widget`), and the agent console with its accounts, sessions and roles
//! (`console`). Sources live in `web/` and are embedded in the binary (rust-embed), so nothing
//! is fetched from elsewhere at run time and no Node toolchain is needed to run them.
//!
//! Like the API, every page and action goes through the conversation service.
pub mod console;
pub mod studio;
pub mod widget;

use axum::Router;

use crate::api::{self, AppState};

/// The whole application: the JSON API plus the web pages. CORS (for the widget embedded on
/// other sites, see [`widget::cors`]) wraps everything, so preflights are answered before routing.
pub fn app(state: AppState) -> Router {
    let cors = widget::cors(&state.config);
    // Console sessions wrap every page, so any console-like face (the studio too) can take the
    // `Session` extractor; a request without the cookie costs nothing.
    let sessions = console::session_layer(&state.config, state.store.clone());
    let line = crate::channels::line::router(&state);
    // One document for every endpoint: the API's, plus the studio's own (the API cannot name it).
    let mut doc = api::openapi::document();
    doc.merge(studio::openapi::document());
    let bridge = state.clone();
    let mut app = api::documented_router(state.clone(), doc)
        .merge(widget::router(state.clone()))
        .merge(console::router(state.clone()))
        .merge(studio::router(state));
    if let Some(line) = line {
        app = app.merge(line);
    }
    // An admin's console session may act as an admin key on the API (see `admin_bridge`);
    // security headers go on every response, pages and preflights included.
    console::admin_bridge::wrap(app, bridge)
        .layer(sessions)
        .layer(cors)
        .layer(axum::middleware::from_fn(api::headers::security_headers))
}
