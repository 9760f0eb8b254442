//! The LINE channel's settings (from the configuration) and the fixed numbers of LINE's API.
use std::time::Duration;

use crate::config::Config;

/// A reply token expires about a minute after the webhook; past this the channel pushes instead.
pub const REPLY_WINDOW: Duration = Duration::from_secs(50);
/// A turn taking longer than this shows LINE's loading animation.
pub const LOADING_AFTER: Duration = Duration::from_secs(1);
/// How long the loading animation runs at most (LINE: 5 to 60 seconds, a multiple of 5); a message
/// from the bot ends it earlier.
pub const LOADING_SECONDS: u32 = 20;
/// Message objects per reply or push call.
pub const MAX_MESSAGES_PER_CALL: usize = 5;
/// Length of a text message, in UTF-16 code units.
pub const MAX_TEXT_UNITS: usize = 5000;
/// Quick reply buttons per message.
pub const MAX_QUICK_REPLIES: usize = 13;
/// Length of a quick reply label, in UTF-16 code units.
pub const MAX_LABEL_UNITS: usize = 20;

/// Metric names (Prometheus).
pub const EVENTS_METRIC: &str = "madoguchi_line_events_total";
pub const DELIVERIES_METRIC: &str = "madoguchi_line_deliveries_total";
pub const PENDING_METRIC: &str = "madoguchi_line_deliveries_pending";
pub const DEAD_METRIC: &str = "madoguchi_line_dead_letters";

/// What the channel needs to talk to LINE.
#[derive(Clone)]
pub struct LineSettings {
    /// Verifies `x-line-signature`.
    pub channel_secret: String,
    /// Bearer token of the API calls.
    pub access_token: String,
    /// `https://api.line.me`, or a stand-in in tests.
    pub api_base: String,
    /// A LINE user's next message after this long starts a new conversation (bot status only).
    pub idle: Duration,
}

impl std::fmt::Debug for LineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSettings")
            .field("api_base", &self.api_base)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl LineSettings {
    /// The settings, when the channel is configured (secret and token both set).
    pub fn from_config(config: &Config) -> Option<LineSettings> {
        Some(LineSettings {
            channel_secret: config.line_channel_secret.clone()?,
            access_token: config.line_channel_access_token.clone()?,
            api_base: config.line_api_base.clone(),
            idle: Duration::from_secs(config.line_idle_minutes.saturating_mul(60)),
        })
    }
}
