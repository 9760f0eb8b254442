//! Persistence: conversations, messages (with the bot's classifications and the customer's
//! feedback), handoff tickets and CSAT, in SQLite (default) or PostgreSQL. The only place with SQL.
//!
//! [`Store`] is one handle over either dialect (`sqlite://PATH` or `postgres://…`); the logic is
//! written once (`engine.rs`) and the SQL of each dialect sits side by side (`sqlite.rs`,
//! `postgres.rs`), with migrations in `migrations/{sqlite,postgres}/`.
//!
//! Invariants the store keeps, with no state in the process (several replicas may share one
//! PostgreSQL):
//!
//! - A customer message is committed before the call returns, so it is stored before any reply.
//! - Message seqs are 1, 2, 3, … per conversation, taken under the conversation's row lock.
//! - A bot turn (its message, the conversation's status and dialogue state, its ticket) is one
//!   transaction. The bot may speak or hand off only while the conversation is the bot's: once a
//!   person has it (`handoff` or `agent`), a turn may only update the dialogue state.
//! - A conversation has at most one open (waiting or claimed) ticket; claiming is a conditional
//!   update, so of two agents claiming at once exactly one wins.
//! - A resolved conversation accepts no message; resolving it closes its open tickets.
//!
//! Times are taken from the process's clock (UTC, microseconds).
mod engine;
mod error;
mod listen;
mod model;
mod postgres;
mod row;
mod sqlite;
mod token;

pub use error::StoreError;
pub use listen::Listener;
pub use model::{
    BotAction, BotTurnRecord, Conversation, ConversationStatus, CustomerTurnRecord, Handoff,
    HandoffFilter, HandoffStatus, IntentActions, Kpis, Message, NewConversation, NewHandoff, Note,
    OutboxEvent, OutboxStats, Role, StoredTurn,
};
pub use token::{new_customer_token, sha256_hex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The conversation store: a cheap-to-clone handle over a connection pool.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Engine),
    Postgres(postgres::Engine),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .finish()
    }
}

/// Runs the same call on whichever engine the store has.
macro_rules! dispatch {
    ($store:expr, $engine:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($engine) => $call.await,
            Backend::Postgres($engine) => $call.await,
        }
    };
}

impl Store {
    /// Connects to `sqlite://PATH` (the file and its directory are created if missing;
    /// `sqlite::memory:` for a throwaway store) or `postgres://…` / `postgresql://…` (the database
    /// must exist). Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default();
        let backend = match scheme.as_str() {
            "sqlite" => Backend::Sqlite(sqlite::Engine::connect(url).await?),
            "postgres" | "postgresql" => Backend::Postgres(postgres::Engine::connect(url).await?),
            _ => return Err(StoreError::UnsupportedUrl(scheme)),
        };
        Ok(Store { backend })
    }

    /// Applies the migrations this binary embeds (`migrations/sqlite` or `migrations/postgres`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, e => e.migrate())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn dialect(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, e => e.ping())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        dispatch!(self, e => e.close())
    }

    /// Starts a conversation in the `bot` status with an empty (`{}`) dialogue state.
    pub async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> Result<Conversation, StoreError> {
        dispatch!(self, e => e.create_conversation(new))
    }

    pub async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        dispatch!(self, e => e.conversation(id))
    }

    /// Stores (committed) the customer's message. `Conflict` when the conversation is resolved,
    /// `Invalid` when the text is blank.
    pub async fn append_customer_message(
        &self,
        conversation_id: Uuid,
        text: &str,
    ) -> Result<Message, StoreError> {
        dispatch!(self, e => e.append_customer_message(conversation_id, text))
    }

    /// Stores one bot turn in one transaction: the bot message (when `reply` is Some), the new
    /// status and dialogue state, and the ticket (when `handoff` is Some). On any error nothing
    /// is stored. `Conflict` when the conversation is resolved, or when a person has it and the
    /// turn would speak, hand off or change the status.
    pub async fn record_bot_turn(
        &self,
        conversation_id: Uuid,
        turn: BotTurnRecord,
    ) -> Result<(Option<Message>, Option<Handoff>), StoreError> {
        dispatch!(self, e => e.record_bot_turn(conversation_id, turn))
    }

    /// The transcript, by seq (empty for an unknown conversation).
    pub async fn messages(&self, conversation_id: Uuid) -> Result<Vec<Message>, StoreError> {
        dispatch!(self, e => e.messages(conversation_id))
    }

    /// Messages with a seq above `seq`, by seq: poll with the last seq seen for live delivery.
    pub async fn messages_after(
        &self,
        conversation_id: Uuid,
        seq: i64,
    ) -> Result<Vec<Message>, StoreError> {
        dispatch!(self, e => e.messages_after(conversation_id, seq))
    }

    /// Records "did this help?" on a bot message of the conversation (a second call replaces it).
    /// `NotFound` when the message is not the conversation's; `Invalid` when it is not the bot's.
    pub async fn set_feedback(
        &self,
        conversation_id: Uuid,
        message_id: Uuid,
        helpful: bool,
        comment: Option<String>,
    ) -> Result<Message, StoreError> {
        dispatch!(self, e => e.set_feedback(conversation_id, message_id, helpful, comment))
    }

    /// Records the customer's satisfaction (1–5, else `Invalid`); allowed after resolution.
    pub async fn set_csat(
        &self,
        conversation_id: Uuid,
        score: u8,
        comment: Option<String>,
    ) -> Result<Conversation, StoreError> {
        dispatch!(self, e => e.set_csat(conversation_id, score, comment))
    }

    /// Ends the conversation (the customer is done): status `resolved`, first-contact resolution
    /// recorded, open tickets closed with the code `conversation_resolved`. Idempotent.
    pub async fn resolve_conversation(
        &self,
        conversation_id: Uuid,
    ) -> Result<Conversation, StoreError> {
        dispatch!(self, e => e.resolve_conversation(conversation_id))
    }

    /// Tickets matching `filter`, oldest first.
    pub async fn list_handoffs(&self, filter: &HandoffFilter) -> Result<Vec<Handoff>, StoreError> {
        dispatch!(self, e => e.list_handoffs(filter))
    }

    pub async fn handoff(&self, id: Uuid) -> Result<Option<Handoff>, StoreError> {
        dispatch!(self, e => e.handoff(id))
    }

    /// All tickets of a conversation, oldest first (the open one, if any, is the last).
    pub async fn conversation_handoffs(
        &self,
        conversation_id: Uuid,
    ) -> Result<Vec<Handoff>, StoreError> {
        dispatch!(self, e => e.conversation_handoffs(conversation_id))
    }

    /// 1-based place of a waiting ticket in the queue (oldest first); None when it is not waiting.
    /// `NotFound` for an unknown ticket.
    pub async fn queue_position(&self, id: Uuid) -> Result<Option<u32>, StoreError> {
        dispatch!(self, e => e.queue_position(id))
    }

    /// Tickets waiting for a person.
    pub async fn waiting_count(&self) -> Result<u64, StoreError> {
        dispatch!(self, e => e.waiting_count())
    }

    /// Takes a waiting (or returned) ticket; the conversation goes to `agent`. Atomic: of
    /// concurrent claims exactly one succeeds, the others get `Conflict`.
    pub async fn claim(&self, id: Uuid, agent_id: &str) -> Result<Handoff, StoreError> {
        dispatch!(self, e => e.claim(id, agent_id))
    }

    /// An agent's message on a ticket they have claimed (else `Conflict`).
    pub async fn agent_reply(
        &self,
        id: Uuid,
        agent_id: &str,
        text: &str,
    ) -> Result<Message, StoreError> {
        dispatch!(self, e => e.agent_reply(id, agent_id, text))
    }

    /// Gives the conversation back to the bot: ticket `returned`, conversation `bot`. Only by the
    /// agent who claimed it.
    pub async fn hand_back(&self, id: Uuid, agent_id: &str) -> Result<Handoff, StoreError> {
        dispatch!(self, e => e.hand_back(id, agent_id))
    }

    /// Closes a claimed ticket with a resolution code and resolves its conversation (as
    /// [`Store::resolve_conversation`] does). Only by the agent who claimed it.
    pub async fn resolve(
        &self,
        id: Uuid,
        agent_id: &str,
        resolution_code: &str,
    ) -> Result<Handoff, StoreError> {
        dispatch!(self, e => e.resolve(id, agent_id, resolution_code))
    }

    /// Key figures over conversations (and their messages and tickets) created since `since`
    /// (everything when None), aggregated in SQL.
    pub async fn kpis(&self, since: Option<DateTime<Utc>>) -> Result<Kpis, StoreError> {
        dispatch!(self, e => e.kpis(since))
    }

    /// Sets whether ticket transactions also write outbox rows (off by default; `serve` turns it
    /// on when a webhook is configured). Opening a ticket writes `handoff.opened`; resolving
    /// tickets writes `handoff.resolved` per ticket — in the same transaction.
    pub fn with_outbox(self, enabled: bool) -> Store {
        let _ = enabled;
        todo!()
    }

    /// One customer turn in one transaction: the customer message (with its client_message_id
    /// and outcome), then exactly what [`Store::record_bot_turn`] does. Nothing is stored on error.
    /// `DuplicateClientMessage` when the conversation already has this client_message_id (also
    /// when two copies race).
    pub async fn record_customer_turn(
        &self,
        conversation_id: Uuid,
        turn: CustomerTurnRecord,
    ) -> Result<StoredTurn, StoreError> {
        let _ = (conversation_id, turn);
        todo!()
    }

    /// The stored turn of a client_message_id: the customer message, the bot message that
    /// directly follows it (if any) and the ticket opened at that turn (if any).
    pub async fn turn_by_client_message_id(
        &self,
        conversation_id: Uuid,
        client_message_id: &str,
    ) -> Result<Option<StoredTurn>, StoreError> {
        let _ = (conversation_id, client_message_id);
        todo!()
    }

    /// Claims up to `limit` due outbox events, leasing them for `lease`.
    pub async fn claim_outbox(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let _ = (limit, lease);
        todo!()
    }

    pub async fn outbox_delivered(&self, id: Uuid) -> Result<(), StoreError> {
        let _ = id;
        todo!()
    }

    /// attempts += 1, last_error, next_attempt_at, lease released.
    pub async fn outbox_retry(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (id, error, next_attempt_at);
        todo!()
    }

    /// attempts += 1, last_error, dead_at = now (a dead letter).
    pub async fn outbox_dead(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        let _ = (id, error);
        todo!()
    }

    /// Newest first; `dead_only` keeps dead letters only.
    pub async fn list_outbox(
        &self,
        dead_only: bool,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let _ = (dead_only, limit);
        todo!()
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        todo!()
    }

    /// Stores a stream ticket (short-lived, single-use; only its hash is stored).
    pub async fn create_stream_ticket(
        &self,
        conversation_id: Uuid,
        ticket_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (conversation_id, ticket_sha256, expires_at);
        todo!()
    }

    /// Deletes the ticket and returns its conversation, if it exists and has not expired (else
    /// None). Also deletes expired tickets.
    pub async fn consume_stream_ticket(
        &self,
        ticket_sha256: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let _ = ticket_sha256;
        todo!()
    }

    /// Adds a private note to a ticket (any agent may; not part of the transcript).
    pub async fn add_note(
        &self,
        handoff_id: Uuid,
        agent_id: &str,
        text: &str,
    ) -> Result<Note, StoreError> {
        let _ = (handoff_id, agent_id, text);
        todo!()
    }

    /// A ticket's notes, oldest first.
    pub async fn notes(&self, handoff_id: Uuid) -> Result<Vec<Note>, StoreError> {
        let _ = handoff_id;
        todo!()
    }

    /// Publishes a live event to the other replicas (PostgreSQL `pg_notify`; SQLite: no-op).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let _ = (channel, payload);
        todo!()
    }

    /// PostgreSQL: a listener on `channel`; SQLite: None.
    pub async fn listen(&self, channel: &str) -> Result<Option<Listener>, StoreError> {
        let _ = channel;
        todo!()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_echoing_the_url() {
        for url in ["mysql://root:secret@db/x", "data/madoguchi.db", ""] {
            let err = Store::connect(url).await.expect_err(url);
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[tokio::test]
    async fn in_memory_store_round_trip() {
        let store = Store::connect("sqlite::memory:").await.expect("connect");
        store.migrate().await.expect("migrate");
        let (token, hash) = new_customer_token();
        let c = store
            .create_conversation(NewConversation {
                locale: Some("ja".into()),
                customer: None,
                token_sha256: hash,
            })
            .await
            .expect("create");
        assert!(c.token_matches(&token));
        assert!(!c.token_matches("not-the-token"));
        let m = store
            .append_customer_message(c.id, "こんにちは")
            .await
            .expect("append");
        assert_eq!(m.seq, 1);
        assert_eq!(store.messages(c.id).await.expect("messages"), vec![m]);
        assert_eq!(
            store
                .conversation(c.id)
                .await
                .expect("get")
                .map(|c| c.last_seq),
            Some(1)
        );
    }

    #[test]
    fn text_enums_round_trip() {
        for s in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(s.as_str()), Some(*s));
        }
        for s in HandoffStatus::ALL {
            assert_eq!(HandoffStatus::parse(s.as_str()), Some(*s));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        for a in BotAction::ALL {
            assert_eq!(BotAction::parse(a.as_str()), Some(*a));
        }
        assert_eq!(
            serde_json::to_string(&ConversationStatus::Handoff).expect("json"),
            "\"handoff\""
        );
    }
}
