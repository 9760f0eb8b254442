//! The customer's face: `widget.js` (embeddable with one script tag), and the demo shop pages
//! (`/`, `/en`) that embed it.
use axum::Router;

use crate::api::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}
