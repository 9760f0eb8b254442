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
//! - `service`: the [`Conversations`] handle and its settings; `limits`: caps on open streams.
//! - `outbox`: the webhook dispatcher for the store's durable outbox.
//! - `kpis`: the KPI aggregate, cached for cheap scrapes.
//! - `privacy`: erasing a customer's data on request, and the retention job.
//! - `fields`: the longest text each field may hold (every channel obeys them).
//!
//! Layering: channels → `conversation` → `dialogue` → `nlu` / `catalog` → `store`.
pub mod agent;
mod canned;
pub mod customer;
mod error;
pub mod events;
pub mod fields;
pub mod kpis;
mod limits;

pub mod outbox;
pub mod privacy;
pub mod reply;
mod service;
pub mod stream;
mod turn;

pub use agent::{Ticket, TicketDetail};
pub use canned::CannedReply;
pub use customer::Started;
pub use error::ConversationError;
pub use events::{Event, EventBus};
pub use limits::StreamLimits;
pub use reply::{ExpectedWait, HandoffInfo, TurnReply};
pub use service::{load_dialogue, Conversations, Parts, Settings};
pub use stream::StreamItem;
