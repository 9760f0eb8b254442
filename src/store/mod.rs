//! Persistence: conversations, messages (with the bot's classifications and the customer's
//! feedback), handoff tickets and their notes, CSAT, the webhook outbox and stream tickets, in
//! SQLite (default) or PostgreSQL. The only place with SQL.
//!
//! [`Store`] is one handle over either dialect (`sqlite://PATH` or `postgres://…`). Each method
//! is written once, in the file of its area (`conversation.rs`, `ticket.rs`, `outbox.rs`,
//! `live.rs`, `kpi.rs`), and each statement once, in `sql.rs`; `dialect.rs`'s `on!` runs a block
//! against whichever dialect the store has, so the two drivers type-check the same code. The
//! dialect files (`sqlite.rs`, `postgres.rs`) hold only what truly differs: how ids and times are
//! bound, how a write transaction starts, connecting and migrating; the few statements the
//! dialects spell differently sit side by side at the end of `sql.rs`. Adding a method touches
//! its area file and, for new SQL, `sql.rs`. Migrations are in `migrations/{sqlite,postgres}/`.
//!
//! Invariants the store keeps, with no state in the process (several replicas may share one
//! PostgreSQL):
//!
//! - A customer message is committed before the call returns, so it is stored before any reply.
//! - Message seqs are 1, 2, 3, … per conversation, taken under the conversation's row lock.
//! - A bot turn (its message, the conversation's status and dialogue state, its ticket) is one
//!   transaction; so is a customer turn (the customer's message, then the same). The bot may
//!   speak or hand off only while the conversation is the bot's: once a person has it
//!   (`handoff` or `agent`), a turn may only update the dialogue state.
//! - A client_message_id names at most one message of a conversation (a unique index): of two
//!   copies of a turn, one is stored and the other is refused as a duplicate.
//! - A conversation has at most one open (waiting or claimed) ticket; claiming is a conditional
//!   update, so of two agents claiming at once exactly one wins.
//! - A resolved conversation accepts no message; resolving it closes its open tickets.
//! - With the outbox on, a ticket's `handoff.opened` / `handoff.resolved` event is written in the
//!   transaction that opens / resolves it, so no event is lost or invented; a claimed event is
//!   leased to one claimer (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
//! - A stream ticket is used at most once (deleted as it is read).
//!
//! Personal data: `erase.rs` deletes one customer's records on request (audited),
//! `retention.rs` deletes what was inactive longer than the configured days, and `backup.rs`
//! copies a SQLite database while it is served.
//!
//! Times are taken from the process's clock (UTC, microseconds).
mod account;
mod account_model;
mod api_key_model;
mod api_keys;
mod audit;
mod backup;
mod check;
mod conversation;
mod dialect;
mod erase;
mod error;
mod inbox;
mod inbox_model;
mod kpi;
mod kpi_model;
mod line;
mod line_model;
mod listener;
mod live;
mod model;
mod model_version;
mod outbox;
mod postgres;
mod privacy_model;
mod regression;
mod retention;
mod row;
mod sql;
mod sqlite;
mod studio_model;
mod ticket;
mod token;

pub use account_model::{
    check_account_name, Account, NewAccount, StoredSession, MAX_ACCOUNT_NAME_LEN,
};
pub use api_key_model::{
    check_api_key_name, secrets_equal, ApiKey, ApiScope, CreatedApiKey, API_KEY_PREFIX,
    MAX_API_KEY_NAME_CHARS,
};
pub use error::StoreError;
pub use inbox_model::{InboxDecision, InboxMessage, InboxScan, NewInboxDecision};
pub use kpi_model::{
    ConversationBucket, DurationKind, HandoffReasonCount, IntentFeedback, KpiData, KpiDuration,
    KpiOutcomes, KpiScope, UnansweredText,
};
pub use line_model::{
    LineDelivery, LineDeliveryStats, LineEvent, LineLink, NewLineDelivery, NewLineEvent,
};
pub use listener::Listener;
pub use model::{
    BotAction, BotTurnRecord, Conversation, ConversationStatus, CustomerTurnRecord, Handoff,
    HandoffFilter, HandoffStatus, IntentActions, Kpis, Message, NewConversation, NewHandoff, Note,
    OutboxEvent, OutboxStats, Role, StoredTurn,
};
pub use privacy_model::{Erased, Swept, ERASE_ACTION, PG_DUMP_HINT};
pub use studio_model::{
    AuditEntry, NewPublication, NewRegressionCase, Publication, PublishAction, RegressionCase,
};
pub use token::{new_customer_token, sha256_hex};

use dialect::{on, ByDialect, Pool};

/// The conversation store: a cheap-to-clone handle over a connection pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Whether ticket transactions write outbox events (see [`Store::with_outbox`]).
    outbox: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .field("outbox", &self.outbox)
            .finish()
    }
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
        let pool = match scheme.as_str() {
            "sqlite" => ByDialect::Sqlite(sqlite::connect(url).await?),
            "postgres" | "postgresql" => ByDialect::Postgres(postgres::connect(url).await?),
            _ => return Err(StoreError::UnsupportedUrl(scheme)),
        };
        Ok(Store {
            pool,
            outbox: false,
        })
    }

    /// Applies the migrations this binary embeds (`migrations/sqlite` or `migrations/postgres`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            ByDialect::Sqlite(pool) => sqlite::migrate(pool).await,
            ByDialect::Postgres(pool) => postgres::migrate(pool).await,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn dialect(&self) -> &'static str {
        match self.pool {
            ByDialect::Sqlite(_) => "sqlite",
            ByDialect::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            sqlx::query(sql::PING).execute(c).await?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            ByDialect::Sqlite(db) => db.pool.close().await,
            ByDialect::Postgres(pool) => pool.close().await,
        }
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
                locale: crate::domain::Locale::parse("ja").ok(),
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
