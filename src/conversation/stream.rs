//! Live streams: what a customer's page (or an agent console) receives as it happens.
//!
//! A conversation stream subscribes to the event bus *first*, then replays the messages after the
//! seq the client last saw from the store, then goes live: each message event makes it read the
//! store for everything after its last seq, so a message is delivered exactly once and in order,
//! across reconnects (`Last-Event-ID`) and whichever replica stored it. A lagging subscriber or a
//! lost database listener resyncs from the store; a slow safety poll covers a lost notification.
//! Streams are capped per conversation and in total.
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use super::events::Event;
use super::limits::StreamGuard;
use super::{ConversationError, Conversations};
use crate::domain::{ConversationStatus, Role};
use crate::store::Message;

/// How often an idle stream re-reads the store anyway (covers a notification lost in transit).
const SAFETY_POLL: Duration = Duration::from_secs(10);

/// What a conversation stream delivers, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A stored message (the customer's own, the bot's, an agent's); its seq is the event id.
    Message(Box<Message>),
    /// Who has the conversation changed.
    Status {
        status: ConversationStatus,
        agent_id: Option<String>,
    },
    /// Someone (an agent) is composing a message.
    Typing {
        role: Role,
        agent_id: Option<String>,
    },
    /// The conversation is resolved; the stream ends.
    End,
}

impl Conversations {
    /// The live stream of `conversation_id` after message `after` (0: from the start). Ends with
    /// [`StreamItem::End`] once the conversation is resolved, or when `shutdown` turns true.
    pub fn conversation_stream(
        &self,
        conversation_id: Uuid,
        after: i64,
        shutdown: watch::Receiver<bool>,
    ) -> Result<mpsc::Receiver<StreamItem>, ConversationError> {
        let guard = self.streams().acquire(Some(conversation_id))?;
        let events = self.bus().subscribe();
        let (tx, rx) = mpsc::channel(32);
        let reader = StreamReader {
            service: self.clone(),
            conversation_id,
            after,
            tx,
        };
        let span = tracing::info_span!("stream", conversation_id = %conversation_id);
        tokio::spawn(tracing::Instrument::instrument(
            reader.run(events, shutdown, guard),
            span,
        ));
        Ok(rx)
    }

    /// Every event of the bus (queue changes, statuses, messages, typing), for agent consoles.
    pub fn agent_stream(
        &self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<mpsc::Receiver<Event>, ConversationError> {
        let guard = self.streams().acquire(None)?;
        let mut events = self.bus().subscribe();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let _guard = guard;
            loop {
                let event = tokio::select! {
                    e = events.recv() => e,
                    _ = shutdown.changed() => return,
                    _ = tx.closed() => return,
                };
                let event = match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => Event::Resync,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

/// The task behind one conversation stream.
struct StreamReader {
    service: Conversations,
    conversation_id: Uuid,
    /// The last seq delivered.
    after: i64,
    tx: mpsc::Sender<StreamItem>,
}

/// Whether the stream goes on.
enum Flow {
    Continue,
    Stop,
}

impl StreamReader {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Event>,
        mut shutdown: watch::Receiver<bool>,
        _guard: StreamGuard,
    ) {
        // Subscribed before this first read: nothing stored in between is missed.
        if let Flow::Stop = self.catch_up().await {
            return;
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            let flow = tokio::select! {
                event = events.recv() => self.on_event(event).await,
                _ = tokio::time::sleep(SAFETY_POLL) => self.catch_up().await,
                _ = shutdown.changed() => Flow::Stop,
                _ = self.tx.closed() => Flow::Stop,
            };
            if let Flow::Stop = flow {
                return;
            }
        }
    }

    async fn on_event(&mut self, event: Result<Event, broadcast::error::RecvError>) -> Flow {
        let event = match event {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(_)) => Event::Resync,
            Err(broadcast::error::RecvError::Closed) => return Flow::Stop,
        };
        if event != Event::Resync && event.conversation_id() != Some(self.conversation_id) {
            return Flow::Continue;
        }
        match event {
            Event::Message { seq, .. } if seq <= self.after => Flow::Continue,
            Event::Message { .. } | Event::Resync => self.catch_up().await,
            Event::Status {
                status: ConversationStatus::Resolved,
                ..
            } => self.finish().await,
            Event::Status {
                status, agent_id, ..
            } => self.send(StreamItem::Status { status, agent_id }).await,
            Event::Typing { role, agent_id, .. } => {
                self.send(StreamItem::Typing { role, agent_id }).await
            }
            Event::Queue { .. } => Flow::Continue,
        }
    }

    /// Delivers every stored message after the last one sent; ends the stream if the
    /// conversation is resolved (or gone).
    async fn catch_up(&mut self) -> Flow {
        if let Flow::Stop = self.send_new_messages().await {
            return Flow::Stop;
        }
        match self
            .service
            .store()
            .conversation(self.conversation_id)
            .await
        {
            Ok(Some(c)) if c.status == ConversationStatus::Resolved && c.last_seq <= self.after => {
                let _ = self.tx.send(StreamItem::End).await;
                Flow::Stop
            }
            Ok(Some(_)) => Flow::Continue,
            Ok(None) => Flow::Stop,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the conversation");
                Flow::Continue
            }
        }
    }

    async fn finish(&mut self) -> Flow {
        if let Flow::Continue = self.send_new_messages().await {
            let _ = self.tx.send(StreamItem::End).await;
        }
        Flow::Stop
    }

    async fn send_new_messages(&mut self) -> Flow {
        let messages = match self
            .service
            .store()
            .messages_after(self.conversation_id, self.after)
            .await
        {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read new messages");
                return Flow::Continue;
            }
        };
        for message in messages {
            self.after = message.seq;
            if let Flow::Stop = self.send(StreamItem::Message(Box::new(message))).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    async fn send(&self, item: StreamItem) -> Flow {
        match self.tx.send(item).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }
}
