//! The event bus: what happened to conversations and tickets, delivered live to every replica.
//!
//! Producers (the service, after a commit) [`EventBus::publish`] an [`Event`]; live streams
//! [`EventBus::subscribe`]. With SQLite there is one process and the bus is a tokio broadcast
//! channel. With PostgreSQL every event goes through `NOTIFY` and each replica's `LISTEN` task
//! rebroadcasts it locally, so a stream on replica A sees what replica B did. Events are small
//! pointers (ids, seqs, statuses): readers fetch messages from the store, which is the truth, and
//! replay what they missed after a lag or a lost connection ([`Event::Resync`]).
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::{ConversationStatus, HandoffStatus, Role};
use crate::store::Store;

/// The PostgreSQL channel of the bus.
pub const CHANNEL: &str = "madoguchi_events";

/// Events buffered per subscriber before it lags (and then resyncs from the store).
const CAPACITY: usize = 1024;

/// Something that happened, as live streams need to know it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message was stored (read it from the store by seq).
    Message {
        conversation_id: Uuid,
        seq: i64,
        role: Role,
    },
    /// Who has the conversation changed (handed off, claimed, handed back, resolved).
    Status {
        conversation_id: Uuid,
        status: ConversationStatus,
        /// The agent who claimed it, when a person has it.
        agent_id: Option<String>,
    },
    /// Someone is composing a message (an agent, for the customer's typing indicator).
    Typing {
        conversation_id: Uuid,
        role: Role,
        agent_id: Option<String>,
    },
    /// The handoff queue changed (for agent consoles).
    Queue {
        ticket_id: Uuid,
        conversation_id: Uuid,
        status: HandoffStatus,
        agent_id: Option<String>,
    },
    /// Events may have been missed (a lagging reader, a lost database connection): re-read the store.
    Resync,
}

impl Event {
    /// The conversation the event is about (None for [`Event::Resync`]).
    pub fn conversation_id(&self) -> Option<Uuid> {
        match self {
            Event::Message {
                conversation_id, ..
            }
            | Event::Status {
                conversation_id, ..
            }
            | Event::Typing {
                conversation_id, ..
            }
            | Event::Queue {
                conversation_id, ..
            } => Some(*conversation_id),
            Event::Resync => None,
        }
    }
}

/// Cheap-to-clone handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Set when events travel through PostgreSQL (`NOTIFY`).
    store: Option<Store>,
}

impl EventBus {
    /// An in-process bus only (SQLite, tests, `madoguchi chat`).
    pub fn local() -> EventBus {
        let (tx, _) = broadcast::channel(CAPACITY);
        EventBus { tx, store: None }
    }

    /// The bus for `store`: on PostgreSQL, listens on [`CHANNEL`] (a task that ends when the
    /// process does) and publishes with `NOTIFY`; on SQLite, in-process only.
    pub async fn start(store: &Store) -> Result<EventBus, crate::store::StoreError> {
        let (tx, _) = broadcast::channel(CAPACITY);
        let Some(listener) = store.listen(CHANNEL).await? else {
            return Ok(EventBus { tx, store: None });
        };
        tokio::spawn(relay(listener, tx.clone()));
        Ok(EventBus {
            tx,
            store: Some(store.clone()),
        })
    }

    /// Receives every event published from now on (on any replica).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Announces `event` to every replica. Never fails: should `NOTIFY` fail, local streams still
    /// get it, and the others catch up from the store on their next resync.
    pub async fn publish(&self, event: Event) {
        if let Some(store) = &self.store {
            match serde_json::to_string(&event) {
                Ok(payload) => match store.notify(CHANNEL, &payload).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(error = %e, "cannot NOTIFY an event; local only"),
                },
                Err(e) => tracing::error!(error = %e, "cannot serialize an event (this is a bug)"),
            }
        }
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }
}

/// Forwards PostgreSQL notifications to the local subscribers.
async fn relay(mut listener: crate::store::Listener, tx: broadcast::Sender<Event>) {
    loop {
        match listener.recv().await {
            Ok(Some(payload)) => match serde_json::from_str::<Event>(&payload) {
                Ok(event) => {
                    let _ = tx.send(event);
                }
                Err(e) => tracing::warn!(error = %e, "ignoring an unreadable event"),
            },
            Ok(None) => {
                tracing::warn!("event listener reconnected; streams resync from the store");
                let _ = tx.send(Event::Resync);
            }
            Err(e) => {
                tracing::warn!(error = %e, "event listener failed; retrying in 1 s");
                let _ = tx.send(Event::Resync);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_stable_json_form() {
        let id = Uuid::nil();
        let event = Event::Message {
            conversation_id: id,
            seq: 3,
            role: Role::Agent,
        };
        let json = serde_json::to_string(&event).expect("json");
        assert_eq!(
            json,
            format!(r#"{{"type":"message","conversation_id":"{id}","seq":3,"role":"agent"}}"#)
        );
        assert_eq!(serde_json::from_str::<Event>(&json).expect("back"), event);
    }

    #[tokio::test]
    async fn a_local_bus_delivers_to_every_subscriber() {
        let bus = EventBus::local();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(Event::Resync).await;
        assert_eq!(a.recv().await.expect("a"), Event::Resync);
        assert_eq!(b.recv().await.expect("b"), Event::Resync);
    }
}
