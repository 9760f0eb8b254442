//! SQLite: the default store, one file (`sqlite://PATH`, created if missing).
//!
//! WAL journal (readers never block the writer), `synchronous = FULL` (a committed customer message
//! survives a power cut, not only a crash), foreign keys on, and a busy timeout so concurrent
//! writers queue instead of failing. Write transactions start with `BEGIN IMMEDIATE`: they take the
//! write lock before reading, so a read-then-write transaction can never be refused half-way.
//!
//! Ids are hyphenated UUID text; times are fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so
//! comparing the text compares the times; JSON is text; booleans are 0/1.
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};
use uuid::Uuid;

use super::engine::engine;
use super::error::StoreError;

type Db = Sqlite;
type DbId = uuid::fmt::Hyphenated;

fn db_id(id: Uuid) -> DbId {
    id.hyphenated()
}

fn db_ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

async fn begin_write(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: u32 = 8;

engine!();

impl Engine {
    /// Opens (creating the file and its directory if missing) the database at `url`.
    pub(super) async fn connect(url: &str) -> Result<Engine, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() && !url.contains(":memory:") {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(sqlx::Error::Io)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        Ok(Engine { pool })
    }

    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}

/// The SQL (the same statement names as in `postgres.rs`).
mod q {
    pub const PING: &str = "SELECT 1";

    pub const INSERT_CONVERSATION: &str = "
        INSERT INTO conversations
            (id, locale, customer, token_sha256, status, dialogue_state, last_seq,
             created_at, updated_at)
        VALUES ($1, $2, $3, $4, 'bot', $5, 0, $6, $6)
        RETURNING *";

    pub const CONVERSATION: &str = "SELECT * FROM conversations WHERE id = $1";

    pub const CONVERSATION_STATUS: &str = "SELECT status FROM conversations WHERE id = $1";

    pub const CONVERSATION_VERSION: &str = "SELECT version FROM conversations WHERE id = $1";

    /// Takes the next message seq of a conversation that is not resolved.
    pub const NEXT_SEQ: &str = "
        UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2
        WHERE id = $1 AND status <> 'resolved'
        RETURNING last_seq";

    /// $5: the turn has a reply (takes a seq); $6: it opens a ticket; $7: the version the turn was
    /// computed from (NULL: no check). The bot may speak or hand off only while the conversation
    /// is the bot's; while a person has it, a turn may only update the dialogue state.
    pub const BOT_TURN: &str = "
        UPDATE conversations
        SET status = $2, dialogue_state = $3, updated_at = $4, version = version + 1,
            last_seq = last_seq + CASE WHEN $5 THEN 1 ELSE 0 END
        WHERE id = $1
          AND ($7 IS NULL OR version = $7)
          AND ((status = 'bot' AND ($2 = 'bot' OR $6))
               OR (status IN ('handoff', 'agent') AND status = $2 AND NOT $5 AND NOT $6))
        RETURNING last_seq";

    pub const INSERT_MESSAGE: &str = "
        INSERT INTO messages
            (id, conversation_id, seq, role, text, created_at, intent, confidence, action,
             reason, alternatives, quick_replies, agent_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        RETURNING *";

    pub const MESSAGES_AFTER: &str = "
        SELECT * FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq";

    pub const SET_FEEDBACK: &str = "
        UPDATE messages SET feedback_helpful = $3, feedback_comment = $4, feedback_at = $5
        WHERE id = $2 AND conversation_id = $1 AND role = 'bot'
        RETURNING *";

    pub const MESSAGE_ROLE: &str = "
        SELECT role FROM messages WHERE id = $2 AND conversation_id = $1";

    pub const SET_CSAT: &str = "
        UPDATE conversations SET csat_score = $2, csat_comment = $3, updated_at = $4
        WHERE id = $1
        RETURNING *";

    pub const SET_STATUS: &str = "
        UPDATE conversations
        SET status = $2, updated_at = $3,
            version = version + CASE WHEN status <> $2 THEN 1 ELSE 0 END
        WHERE id = $1 AND status <> 'resolved'";

    /// First-contact resolution: at most one ticket, claimed, never handed back.
    pub const RESOLVE_CONVERSATION: &str = "
        UPDATE conversations
        SET status = 'resolved', resolved_at = $2, updated_at = $2, version = version + 1,
            first_contact_resolution = (
                SELECT COUNT(*) <= 1
                   AND COUNT(*) FILTER (WHERE claimed_at IS NULL OR returned_at IS NOT NULL) = 0
                FROM handoffs WHERE conversation_id = $1)
        WHERE id = $1 AND status <> 'resolved'
        RETURNING *";

    pub const CLOSE_TICKETS: &str = "
        UPDATE handoffs SET status = 'resolved', resolved_at = $2, resolution_code = $3
        WHERE conversation_id = $1 AND status <> 'resolved'";

    pub const INSERT_HANDOFF: &str = "
        INSERT INTO handoffs
            (id, conversation_id, status, reason, intent, locale, summary, created_at)
        VALUES ($1, $2, 'waiting', $3, $4, $5, $6, $7)
        RETURNING *";

    pub const HANDOFF: &str = "SELECT * FROM handoffs WHERE id = $1";

    pub const CONVERSATION_HANDOFFS: &str = "
        SELECT * FROM handoffs WHERE conversation_id = $1 ORDER BY created_at, id";

    pub const LIST_HANDOFFS: &str = "
        SELECT * FROM handoffs
        WHERE ($1 IS NULL OR status = $1)
          AND ($2 IS NULL OR intent = $2)
          AND ($3 IS NULL OR locale = $3)
        ORDER BY created_at, id
        LIMIT $4";

    /// The ticket's status and its 1-based place among waiting tickets (oldest first).
    pub const QUEUE_POSITION: &str = "
        SELECT t.status,
               (SELECT COUNT(*) FROM handoffs h
                WHERE h.status = 'waiting'
                  AND (h.created_at < t.created_at
                       OR (h.created_at = t.created_at AND h.id <= t.id))) AS position
        FROM handoffs t WHERE t.id = $1";

    pub const WAITING_COUNT: &str = "SELECT COUNT(*) FROM handoffs WHERE status = 'waiting'";

    pub const CLAIM: &str = "
        UPDATE handoffs SET status = 'claimed', claimed_by = $2, claimed_at = $3
        WHERE id = $1 AND status IN ('waiting', 'returned')
        RETURNING *";

    /// Takes the next seq of the conversation of a ticket this agent has claimed.
    pub const AGENT_NEXT_SEQ: &str = "
        UPDATE conversations
        SET status = 'agent', last_seq = last_seq + 1, updated_at = $3,
            version = version + CASE WHEN status <> 'agent' THEN 1 ELSE 0 END
        WHERE id = (SELECT conversation_id FROM handoffs
                    WHERE id = $1 AND status = 'claimed' AND claimed_by = $2)
          AND status <> 'resolved'
        RETURNING id, last_seq";

    pub const HAND_BACK: &str = "
        UPDATE handoffs SET status = 'returned', returned_at = $3
        WHERE id = $1 AND status = 'claimed' AND claimed_by = $2
        RETURNING *";

    pub const RESOLVE_HANDOFF: &str = "
        UPDATE handoffs SET status = 'resolved', resolved_at = $3, resolution_code = $4
        WHERE id = $1 AND status = 'claimed' AND claimed_by = $2
        RETURNING *";

    pub const KPI_CONVERSATIONS: &str = "
        SELECT COUNT(*) AS conversations,
               COUNT(*) FILTER (WHERE c.status = 'resolved' AND NOT EXISTS
                   (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS contained,
               COUNT(*) FILTER (WHERE EXISTS
                   (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS handed_off,
               AVG(c.csat_score) AS csat_average,
               COUNT(c.csat_score) AS csat_responses,
               COUNT(*) FILTER (WHERE c.first_contact_resolution = 1) AS fcr_yes,
               COUNT(c.first_contact_resolution) AS fcr_known,
               AVG((julianday(c.resolved_at) - julianday(c.created_at)) * 86400.0)
                   AS mean_resolution_seconds
        FROM conversations c
        WHERE $1 IS NULL OR c.created_at >= $1";

    pub const KPI_TICKETS: &str = "
        SELECT COUNT(*) AS tickets,
               AVG((julianday(claimed_at) - julianday(created_at)) * 86400.0)
                   AS mean_claim_seconds
        FROM handoffs
        WHERE $1 IS NULL OR created_at >= $1";

    pub const KPI_INTENTS: &str = "
        SELECT intent,
               COUNT(*) FILTER (WHERE action = 'answer') AS answers,
               COUNT(*) FILTER (WHERE action = 'clarify') AS clarifies,
               COUNT(*) FILTER (WHERE action = 'handoff') AS handoffs
        FROM messages
        WHERE role = 'bot' AND ($1 IS NULL OR created_at >= $1)
        GROUP BY intent";

    pub const KPI_FEEDBACK: &str = "
        SELECT COUNT(*) FILTER (WHERE feedback_helpful = 1) AS helpful,
               COUNT(feedback_helpful) AS responses
        FROM messages
        WHERE role = 'bot' AND ($1 IS NULL OR created_at >= $1)";
}
