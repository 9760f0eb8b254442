//! Turning the channel on: [`start`] spawns its three background tasks (event processor, relay,
//! delivery dispatcher) and [`router`] gives the webhook's route; both only when the secret and
//! the access token are configured.
use tokio::sync::watch;

use super::copy::LineCopy;
use super::settings::LineSettings;
use super::state::Line;
use super::{dispatch, relay, webhook, worker};
use crate::api::AppState;
use crate::conversation::Conversations;

/// Starts the channel's tasks; they end when `shutdown` turns true. Returns their shared state.
pub fn start(
    conversations: Conversations,
    settings: LineSettings,
    copy: LineCopy,
    shutdown: watch::Receiver<bool>,
) -> Line {
    tracing::info!(api_base = %settings.api_base, "LINE channel on");
    let line = Line::new(conversations, settings, copy);
    tokio::spawn(worker::run(line.clone(), shutdown.clone()));
    tokio::spawn(relay::run(line.clone(), shutdown.clone()));
    tokio::spawn(dispatch::run(line.clone(), shutdown));
    line
}

/// `POST /channels/line/webhook`, when the channel is configured.
pub fn router(state: &AppState) -> Option<axum::Router> {
    let settings = LineSettings::from_config(&state.config)?;
    Some(webhook::router(
        settings.channel_secret,
        state.conversations.store().clone(),
    ))
}
