//! The conversation service: everything that happens in a conversation, the same for every
//! channel. The HTTP API, `madoguchi chat`, the web pages and messaging channels call
//! [`Conversations`]; none of them re-implements a step.
//!
//! - `turn`: one customer turn (classify → dialogue → one commit), idempotent by
//!   `client_message_id`; `reply`: what the customer is told, with an honest wait estimate.
//! - `customer`: start, access by token, transcript, feedback, CSAT, end, stream tickets.
//! - `agent`: the handoff queue for people (claim, reply, notes, typing, hand back, resolve).
//! - `events`: the event bus (in-process, plus PostgreSQL `LISTEN/NOTIFY` across replicas);
//!   `stream`: live streams with replay from the store.
//! - `outbox`: the webhook dispatcher for the store's durable outbox.
//! - `kpis`: the KPI aggregate, cached for cheap scrapes.
//!
//! Layering: channels → `conversation` → `dialogue` → `nlu` / `catalog` → `store`.
pub mod agent;
mod canned;
pub mod customer;
mod error;
pub mod events;
pub mod kpis;

pub mod outbox;
pub mod reply;
pub mod stream;
mod turn;

use std::sync::Arc;

pub use agent::{Ticket, TicketDetail};
pub use canned::CannedReply;
pub use customer::Started;
pub use error::ConversationError;
pub use events::{Event, EventBus};
pub use reply::{ExpectedWait, HandoffInfo, TurnReply};
pub use stream::{StreamItem, StreamLimits};

use crate::dialogue::Dialogue;
use crate::domain::Locale;
use crate::nlu::queue::NluHandle;
use crate::nlu::Classification;
use crate::store::Store;

/// The service's knobs (from the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest customer message, in characters.
    pub max_message_chars: usize,
    /// Average minutes a person needs per waiting ticket (for the expected wait).
    pub minutes_per_ticket: f64,
}

/// The conversation service. Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    nlu: NluHandle,
    dialogue: Arc<Dialogue>,
    locales: Vec<Locale>,
    settings: Settings,
    bus: EventBus,
    streams: StreamLimits,
}

/// What the service is built from.
pub struct Parts {
    pub store: Store,
    pub nlu: NluHandle,
    pub dialogue: Dialogue,
    /// The catalog's locales (a conversation may only choose one of them).
    pub locales: Vec<Locale>,
    pub settings: Settings,
    pub bus: EventBus,
    pub streams: StreamLimits,
}

impl Conversations {
    pub fn new(parts: Parts) -> Conversations {
        Conversations {
            inner: Arc::new(Inner {
                store: parts.store,
                nlu: parts.nlu,
                dialogue: Arc::new(parts.dialogue),
                locales: parts.locales,
                settings: parts.settings,
                bus: parts.bus,
                streams: parts.streams,
            }),
        }
    }

    /// Classifies messages without a conversation (the developer API), through the same queue.
    pub async fn classify(
        &self,
        texts: Vec<String>,
    ) -> Result<Vec<Classification>, ConversationError> {
        let max = self.settings().max_message_chars;
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() {
                return Err(ConversationError::Invalid(format!("texts[{i}] is empty")));
            }
            if t.chars().count() > max {
                return Err(ConversationError::Invalid(format!(
                    "texts[{i}] is longer than {max} characters"
                )));
            }
        }
        Ok(self.nlu().classify_many(texts).await?)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn nlu(&self) -> &NluHandle {
        &self.inner.nlu
    }

    pub fn dialogue(&self) -> &Dialogue {
        &self.inner.dialogue
    }

    pub fn locales(&self) -> &[Locale] {
        &self.inner.locales
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    fn streams(&self) -> &StreamLimits {
        &self.inner.streams
    }
}
