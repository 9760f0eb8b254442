//! [`ConsoleState`]: what the console's handlers share — the application's state, the login
//! limiter and a dummy password hash.
use std::sync::Arc;

use axum::extract::FromRef;

use super::limit;
use crate::api::AppState;

/// The console's state: the application's, plus the login limiter.
#[derive(Clone)]
pub struct ConsoleState {
    pub app: AppState,
    pub limiter: Arc<limit::LoginLimiter>,
    /// A hash checked against when the account does not exist, so a login takes as long either
    /// way.
    pub dummy_hash: Arc<str>,
}

impl FromRef<ConsoleState> for AppState {
    fn from_ref(state: &ConsoleState) -> AppState {
        state.app.clone()
    }
}
