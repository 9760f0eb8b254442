//! The LINE channel (Messaging API): customers chat with the bot in LINE; agents answer from the
//! console and their replies are pushed to LINE.
//!
//! - `webhook`: `POST /channels/line/webhook` — signature check on the raw body, every event
//!   stored before the 200 (`inbound` reads LINE's event objects leniently).
//! - `worker`: processes stored events in order per user (turns through the conversation service,
//!   follow, unfollow, stickers, postbacks), with the loading animation on slow turns.
//! - `relay`: conversation messages and the CSAT question → deliveries, by a per-conversation
//!   cursor moved in the transaction that writes them.
//! - `dispatch`: the LINE outbox — reply while the token is fresh, else push with
//!   `X-Line-Retry-Key`; retries with backoff, dead letters; `client` the API calls.
//! - `messages`: LINE message objects (split texts, quick replies, ≤ 5 per call); `copy`: the
//!   channel's own words (`intents/_line.yaml`); `settings`: configuration and LINE's limits;
//!   `state`: what the tasks share; `channel`: [`start`] and [`router`].
mod channel;
mod client;
mod copy;
mod dispatch;
mod inbound;
mod messages;
mod relay;
mod settings;
mod state;
mod webhook;
mod worker;

pub use channel::{router, start};
pub use client::{LineApi, Sent};
pub use copy::{LineCopy, Lines, COPY_FILE};
pub use dispatch::MAX_ATTEMPTS;
pub use messages::{split_text, Button, Postback};
pub use settings::{
    LineSettings, MAX_LABEL_UNITS, MAX_MESSAGES_PER_CALL, MAX_QUICK_REPLIES, MAX_TEXT_UNITS,
    REPLY_WINDOW,
};
pub use state::Line;
pub use webhook::{sign, signature_matches, WEBHOOK_PATH};
