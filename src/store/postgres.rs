//! PostgreSQL: the store that several stateless replicas share (`postgres://USER@HOST/DB`).
//!
//! Native types (`uuid`, `timestamptz`, `jsonb`, `boolean`). Write transactions run at READ
//! COMMITTED: every guarded `UPDATE … WHERE status …` locks its row, and a concurrent one re-checks
//! its condition after the first commits, so of two agents claiming a ticket exactly one wins, and
//! two replicas appending to one conversation take consecutive seqs.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres, Transaction};
use uuid::Uuid;

use super::engine::engine;
use super::error::StoreError;

type Db = Postgres;
type DbId = Uuid;

fn db_id(id: Uuid) -> DbId {
    id
}

fn db_ts(at: DateTime<Utc>) -> DateTime<Utc> {
    at
}

async fn begin_write(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

engine!();

impl Engine {
    /// Connects to the server at `url` (the database must exist).
    pub(super) async fn connect(url: &str) -> Result<Engine, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Engine { pool })
    }

    /// Runs the migrations (sqlx holds an advisory lock, so replicas starting together are safe).
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// The SQL (the same statement names as in `sqlite.rs`).
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
          AND ($7::bigint IS NULL OR version = $7)
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
        WHERE ($1::text IS NULL OR status = $1)
          AND ($2::text IS NULL OR intent = $2)
          AND ($3::text IS NULL OR locale = $3)
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
               AVG(c.csat_score)::float8 AS csat_average,
               COUNT(c.csat_score) AS csat_responses,
               COUNT(*) FILTER (WHERE c.first_contact_resolution) AS fcr_yes,
               COUNT(c.first_contact_resolution) AS fcr_known,
               AVG(EXTRACT(EPOCH FROM c.resolved_at - c.created_at))::float8
                   AS mean_resolution_seconds
        FROM conversations c
        WHERE $1::timestamptz IS NULL OR c.created_at >= $1";

    pub const KPI_TICKETS: &str = "
        SELECT COUNT(*) AS tickets,
               AVG(EXTRACT(EPOCH FROM claimed_at - created_at))::float8
                   AS mean_claim_seconds
        FROM handoffs
        WHERE $1::timestamptz IS NULL OR created_at >= $1";

    pub const KPI_INTENTS: &str = "
        SELECT intent,
               COUNT(*) FILTER (WHERE action = 'answer') AS answers,
               COUNT(*) FILTER (WHERE action = 'clarify') AS clarifies,
               COUNT(*) FILTER (WHERE action = 'handoff') AS handoffs
        FROM messages
        WHERE role = 'bot' AND ($1::timestamptz IS NULL OR created_at >= $1)
        GROUP BY intent";

    pub const KPI_FEEDBACK: &str = "
        SELECT COUNT(*) FILTER (WHERE feedback_helpful) AS helpful,
               COUNT(feedback_helpful) AS responses
        FROM messages
        WHERE role = 'bot' AND ($1::timestamptz IS NULL OR created_at >= $1)";
}
