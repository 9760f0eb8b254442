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
    api::router(state.clone())
        .merge(widget::router(state.clone()))
        .merge(console::router(state.clone()))
        .merge(studio::router(state))
        .layer(cors)
}
