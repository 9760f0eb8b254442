//! Every SQL statement of the store, written once.
//!
//! Both dialects take `$1`-style placeholders and, since sqlx sends PostgreSQL the type of every
//! bound value, `$1 IS NULL` needs no cast. Booleans are tested bare (`WHERE flag`), which SQLite
//! reads as 0/1 and PostgreSQL as `boolean`. The few statements the dialects truly disagree on
//! sit side by side at the end, in [`sqlite`] and [`postgres`] (reached as `D::sql::NAME`).

pub const PING: &str = "SELECT 1";

// ---- conversations -------------------------------------------------------------------------

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
/// computed from (NULL: no check); $8: seqs taken before the reply's (1 for the customer's
/// message of a customer turn). The bot may speak or hand off only while the conversation is
/// the bot's; while a person has it, a turn may only update the dialogue state.
pub const TURN: &str = "
    UPDATE conversations
    SET status = $2, dialogue_state = $3, updated_at = $4, version = version + 1,
        last_seq = last_seq + $8 + CASE WHEN $5 THEN 1 ELSE 0 END
    WHERE id = $1
      AND ($7 IS NULL OR version = $7)
      AND ((status = 'bot' AND ($2 = 'bot' OR $6))
           OR (status IN ('handoff', 'agent') AND status = $2 AND NOT $5 AND NOT $6))
    RETURNING last_seq";

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

// ---- messages ------------------------------------------------------------------------------

pub const INSERT_MESSAGE: &str = "
    INSERT INTO messages
        (id, conversation_id, seq, role, text, created_at, intent, confidence, action,
         reason, alternatives, quick_replies, agent_id, client_message_id, outcome)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    RETURNING *";

pub const MESSAGES_AFTER: &str = "
    SELECT * FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq";

pub const MESSAGE_BY_CLIENT_ID: &str = "
    SELECT * FROM messages WHERE conversation_id = $1 AND client_message_id = $2";

pub const MESSAGE_ID_BY_CLIENT_ID: &str = "
    SELECT id FROM messages WHERE conversation_id = $1 AND client_message_id = $2";

/// The reply of a customer turn: the bot message right after it, written in the same
/// transaction (so at the same time).
pub const TURN_REPLY: &str = "
    SELECT * FROM messages
    WHERE conversation_id = $1 AND seq = $2 AND role = 'bot' AND created_at = $3";

pub const SET_FEEDBACK: &str = "
    UPDATE messages SET feedback_helpful = $3, feedback_comment = $4, feedback_at = $5
    WHERE id = $2 AND conversation_id = $1 AND role = 'bot'
    RETURNING *";

pub const MESSAGE_ROLE: &str = "
    SELECT role FROM messages WHERE id = $2 AND conversation_id = $1";

// ---- handoff tickets -----------------------------------------------------------------------

pub const INSERT_HANDOFF: &str = "
    INSERT INTO handoffs
        (id, conversation_id, status, reason, intent, locale, summary, created_at)
    VALUES ($1, $2, 'waiting', $3, $4, $5, $6, $7)
    RETURNING *";

pub const HANDOFF: &str = "SELECT * FROM handoffs WHERE id = $1";

/// The ticket a turn opened: it was created in the turn's transaction, at the turn's time.
pub const HANDOFF_OPENED_AT: &str = "
    SELECT * FROM handoffs WHERE conversation_id = $1 AND created_at = $2";

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

/// Closes a conversation's open tickets; returns their ids.
pub const CLOSE_TICKETS: &str = "
    UPDATE handoffs SET status = 'resolved', resolved_at = $2, resolution_code = $3
    WHERE conversation_id = $1 AND status <> 'resolved'
    RETURNING id";

pub const INSERT_NOTE: &str = "
    INSERT INTO ticket_notes (id, handoff_id, agent_id, text, created_at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING *";

pub const NOTES: &str = "
    SELECT * FROM ticket_notes WHERE handoff_id = $1 ORDER BY created_at, id";

// ---- outbox --------------------------------------------------------------------------------

pub const INSERT_OUTBOX: &str = "
    INSERT INTO outbox (id, event, ticket_id, conversation_id, created_at, next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $5)";

pub const OUTBOX_DELIVERED: &str = "
    UPDATE outbox SET delivered_at = $2, locked_until = NULL
    WHERE id = $1
    RETURNING id";

pub const OUTBOX_RETRY: &str = "
    UPDATE outbox
    SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, locked_until = NULL
    WHERE id = $1
    RETURNING id";

pub const OUTBOX_DEAD: &str = "
    UPDATE outbox
    SET attempts = attempts + 1, last_error = $2, dead_at = $3, locked_until = NULL
    WHERE id = $1
    RETURNING id";

/// Newest first; $1: dead letters only.
pub const LIST_OUTBOX: &str = "
    SELECT * FROM outbox
    WHERE NOT $1 OR dead_at IS NOT NULL
    ORDER BY created_at DESC, id DESC
    LIMIT $2";

pub const OUTBOX_STATS: &str = "
    SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
           COUNT(dead_at) AS dead,
           COUNT(delivered_at) AS delivered
    FROM outbox";

// ---- stream tickets ------------------------------------------------------------------------

pub const INSERT_STREAM_TICKET: &str = "
    INSERT INTO stream_tickets (ticket_sha256, conversation_id, expires_at) VALUES ($1, $2, $3)";

/// Single use: of two consumers, only one gets the row back.
pub const CONSUME_STREAM_TICKET: &str = "
    DELETE FROM stream_tickets WHERE ticket_sha256 = $1 AND expires_at > $2
    RETURNING conversation_id";

pub const DELETE_EXPIRED_STREAM_TICKETS: &str = "
    DELETE FROM stream_tickets WHERE expires_at <= $1";

/// PostgreSQL only (SQLite has no other process to tell).
pub const NOTIFY: &str = "SELECT pg_notify($1, $2)";

// ---- personal data: erasure and retention (store/erase.rs, store/retention.rs) --------------

/// The conversations of customer `$1`: those whose customer metadata has that `id` (compared as
/// text, so `42` and `"42"` are one customer), and the LINE user `$1`'s.
macro_rules! customer_conversations {
    () => {
        "SELECT id FROM conversations WHERE CAST(customer ->> 'id' AS TEXT) = $1
         UNION SELECT conversation_id FROM line_conversations WHERE user_id = $1"
    };
}

/// Erasure of customer `$1`, children first (each statement's row count is reported), then the
/// conversations themselves (whose foreign keys cascade to anything left), then the LINE user's
/// received events and deliveries.
pub const ERASE_NOTES: &str = concat!(
    "DELETE FROM ticket_notes WHERE handoff_id IN
       (SELECT id FROM handoffs WHERE conversation_id IN (",
    customer_conversations!(),
    "))"
);
pub const ERASE_OUTBOX: &str = concat!(
    "DELETE FROM outbox WHERE conversation_id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_INBOX_DECISIONS: &str = concat!(
    "DELETE FROM inbox_decisions WHERE message_id IN
       (SELECT id FROM messages WHERE conversation_id IN (",
    customer_conversations!(),
    "))"
);
pub const ERASE_STREAM_TICKETS: &str = concat!(
    "DELETE FROM stream_tickets WHERE conversation_id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_LINE_DELIVERIES: &str = concat!(
    "DELETE FROM line_deliveries WHERE user_id = $1 OR conversation_id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_MESSAGES: &str = concat!(
    "DELETE FROM messages WHERE conversation_id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_HANDOFFS: &str = concat!(
    "DELETE FROM handoffs WHERE conversation_id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_CONVERSATIONS: &str = concat!(
    "DELETE FROM conversations WHERE id IN (",
    customer_conversations!(),
    ")"
);
pub const ERASE_LINE_CONVERSATIONS: &str = "DELETE FROM line_conversations WHERE user_id = $1";
pub const ERASE_LINE_EVENTS: &str = "DELETE FROM line_events WHERE user_id = $1";

/// One batch of the retention sweep: up to `$2` conversations last active before `$1`, with
/// everything that references them (foreign keys cascade: messages, tickets, notes, outbox
/// events, stream tickets, inbox decisions, LINE links and deliveries). The outer test re-checks
/// the time, so a conversation that came back to life meanwhile stays.
pub const EXPIRE_CONVERSATIONS: &str = "
    DELETE FROM conversations
    WHERE id IN (SELECT id FROM conversations WHERE updated_at < $1 ORDER BY updated_at LIMIT $2)
      AND updated_at < $1";

/// LINE webhook events (they hold what the customer wrote) received before `$1`, `$2` at a time.
pub const EXPIRE_LINE_EVENTS: &str = "
    DELETE FROM line_events
    WHERE seq IN (SELECT seq FROM line_events WHERE received_at < $1 ORDER BY seq LIMIT $2)";

/// LINE deliveries of no conversation (those of one go with it) created before `$1`.
pub const EXPIRE_LINE_DELIVERIES: &str = "
    DELETE FROM line_deliveries
    WHERE seq IN (SELECT seq FROM line_deliveries
                  WHERE conversation_id IS NULL AND created_at < $1 ORDER BY seq LIMIT $2)";

/// PostgreSQL only: one replica sweeps at a time (the lock ends with the transaction).
pub const TRY_RETENTION_LOCK: &str = "SELECT pg_try_advisory_xact_lock($1)";

/// SQLite only: an online, consistent copy of the database into the new file `$1`.
pub const BACKUP_INTO: &str = "VACUUM INTO $1";

// ---- KPIs ----------------------------------------------------------------------------------

pub const KPI_INTENTS: &str = "
    SELECT intent,
           COUNT(*) FILTER (WHERE action = 'answer') AS answers,
           COUNT(*) FILTER (WHERE action = 'clarify') AS clarifies,
           COUNT(*) FILTER (WHERE action = 'handoff') AS handoffs
    FROM messages
    WHERE role = 'bot' AND ($1 IS NULL OR created_at >= $1)
    GROUP BY intent";

pub const KPI_FEEDBACK: &str = "
    SELECT COUNT(*) FILTER (WHERE feedback_helpful) AS helpful,
           COUNT(feedback_helpful) AS responses
    FROM messages
    WHERE role = 'bot' AND ($1 IS NULL OR created_at >= $1)";

// ---- dashboard KPIs (studio) ---------------------------------------------------------------
//
// Every dashboard statement looks at the conversations *started* in the scope (a cohort) and at
// their messages and tickets, whenever those happened. `kpi_scope!` is that one condition, on the
// conversation alias `c`: $1 ≤ created_at < $2 (UTC instants of local midnights), $3 the locale or
// NULL for all.
// The scope: $1–$2 the time range, $3 the locale, $4 the channel (NULL: any); the bucket size
// of `KPI_CONVERSATION_BUCKETS` is $5.
macro_rules! kpi_scope {
    () => {
        " c.created_at >= $1 AND c.created_at < $2 AND ($3 IS NULL OR c.locale = $3)
          AND ($4 IS NULL OR c.channel = $4) "
    };
}

/// Outcome counts of the conversations in scope (one row). Contained: resolved with no ticket
/// at all; handed off: at least one ticket; first contact: see `RESOLVE_CONVERSATION`.
pub const KPI_OUTCOMES: &str = concat!(
    "SELECT COUNT(*) AS conversations,
            COUNT(*) FILTER (WHERE c.status = 'resolved' AND NOT EXISTS
                (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS contained,
            COUNT(*) FILTER (WHERE EXISTS
                (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS handed_off,
            COUNT(*) FILTER (WHERE c.first_contact_resolution) AS fcr_yes,
            COUNT(c.first_contact_resolution) AS fcr_known,
            COUNT(*) FILTER (WHERE c.csat_score = 1) AS csat_1,
            COUNT(*) FILTER (WHERE c.csat_score = 2) AS csat_2,
            COUNT(*) FILTER (WHERE c.csat_score = 3) AS csat_3,
            COUNT(*) FILTER (WHERE c.csat_score = 4) AS csat_4,
            COUNT(*) FILTER (WHERE c.csat_score = 5) AS csat_5
     FROM conversations c WHERE",
    kpi_scope!()
);

/// Per handoff reason: conversations with at least one ticket of that reason, and tickets.
pub const KPI_HANDOFF_REASONS: &str = concat!(
    "SELECT h.reason, COUNT(DISTINCT h.conversation_id) AS conversations, COUNT(*) AS tickets
     FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
     WHERE",
    kpi_scope!(),
    "GROUP BY h.reason"
);

/// Per predicted intent: the bot's answers, those rated, those rated 👎.
pub const KPI_FEEDBACK_BY_INTENT: &str = concat!(
    "SELECT m.intent, COUNT(*) AS answers, COUNT(m.feedback_helpful) AS rated,
            COUNT(*) FILTER (WHERE NOT m.feedback_helpful) AS unhelpful
     FROM messages m JOIN conversations c ON c.id = m.conversation_id
     WHERE m.role = 'bot' AND m.action = 'answer' AND",
    kpi_scope!(),
    "GROUP BY m.intent"
);

/// Customer messages the bot did not answer, by the bot's predicted intent and the exact text:
/// the reply asked which intent (`clarify`), asked to rephrase, said it cannot help
/// (`out_of_scope`), or handed off because it did not understand (a ticket opened in the same
/// turn, so at the same time, for `low_confidence` or `out_of_scope`).
pub const KPI_UNANSWERED: &str = concat!(
    "SELECT b.intent, q.text, COUNT(*) AS messages
     FROM messages b
     JOIN conversations c ON c.id = b.conversation_id
     JOIN messages q ON q.conversation_id = b.conversation_id AND q.seq = b.seq - 1
                    AND q.role = 'customer'
     WHERE b.role = 'bot'
       AND (b.reason IN ('clarify', 'rephrase', 'out_of_scope')
            OR (b.reason = 'handoff' AND EXISTS
                (SELECT 1 FROM handoffs h
                 WHERE h.conversation_id = b.conversation_id AND h.created_at = b.created_at
                   AND h.reason IN ('low_confidence', 'out_of_scope'))))
       AND",
    kpi_scope!(),
    "GROUP BY b.intent, q.text"
);

// ---- where the dialects differ -------------------------------------------------------------

/// SQLite: times are text, so a duration is a difference of `julianday`s; a write transaction
/// already holds the database's write lock (`BEGIN IMMEDIATE`), so claiming needs no row locks.
pub mod sqlite {
    pub const KPI_CONVERSATIONS: &str = "
        SELECT COUNT(*) AS conversations,
               COUNT(*) FILTER (WHERE c.status = 'resolved' AND NOT EXISTS
                   (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS contained,
               COUNT(*) FILTER (WHERE EXISTS
                   (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS handed_off,
               AVG(c.csat_score) AS csat_average,
               COUNT(c.csat_score) AS csat_responses,
               COUNT(*) FILTER (WHERE c.first_contact_resolution) AS fcr_yes,
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

    /// Conversations in scope per bucket (`bucket` = UTC epoch seconds / $5, the bucket size) and
    /// conversation intent (the first intent the bot recognised in it; NULL: none).
    pub const KPI_CONVERSATION_BUCKETS: &str = concat!(
        "SELECT bucket, intent, COUNT(*) AS conversations FROM (
             SELECT CAST(strftime('%s', c.created_at) AS INTEGER) / $5 AS bucket,
                    (SELECT m.intent FROM messages m
                     WHERE m.conversation_id = c.id AND m.role = 'bot' AND m.intent IS NOT NULL
                     ORDER BY m.seq LIMIT 1) AS intent
             FROM conversations c WHERE",
        kpi_scope!(),
        ") t GROUP BY bucket, intent"
    );

    /// Measured durations by `kind`, to the second: how many (`n`) took `seconds`.
    /// `first_response` (first ticket → first agent message), `resolution` (conversation start →
    /// resolved), `wait` (ticket → claimed), `handle` (claimed → resolved, or → handed back when
    /// it was handed back after the claim).
    pub const KPI_DURATIONS: &str = concat!(
        "SELECT kind, ROUND(seconds) AS seconds, COUNT(*) AS n FROM (
         SELECT 'first_response' AS kind, (julianday(t.answered) - julianday(t.asked)) * 86400.0 AS seconds FROM (
             SELECT (SELECT MIN(h.created_at) FROM handoffs h WHERE h.conversation_id = c.id)
                        AS asked,
                    (SELECT MIN(m.created_at) FROM messages m
                     WHERE m.conversation_id = c.id AND m.role = 'agent') AS answered
             FROM conversations c WHERE",
        kpi_scope!(),
        ") t WHERE t.asked IS NOT NULL AND t.answered IS NOT NULL
         UNION ALL
         SELECT 'resolution', (julianday(c.resolved_at) - julianday(c.created_at)) * 86400.0
         FROM conversations c WHERE c.resolved_at IS NOT NULL AND",
        kpi_scope!(),
        "UNION ALL
         SELECT 'wait', (julianday(h.claimed_at) - julianday(h.created_at)) * 86400.0
         FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
         WHERE h.claimed_at IS NOT NULL AND",
        kpi_scope!(),
        "UNION ALL
         SELECT 'handle', (julianday(h.ended) - julianday(h.claimed_at)) * 86400.0 FROM (
             SELECT h.claimed_at,
                    CASE WHEN h.returned_at >= h.claimed_at THEN h.returned_at
                         ELSE h.resolved_at END AS ended
             FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE h.claimed_at IS NOT NULL AND",
        kpi_scope!(),
        ") h WHERE h.ended IS NOT NULL
         ) d WHERE seconds IS NOT NULL GROUP BY kind, ROUND(seconds)"
    );

    /// $1: now; $2: the lease's end; $3: at most this many.
    pub const CLAIM_OUTBOX: &str = "
        UPDATE outbox SET locked_until = $2
        WHERE id IN (SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
                       AND (locked_until IS NULL OR locked_until <= $1)
                     ORDER BY next_attempt_at, id
                     LIMIT $3)
        RETURNING *";
}

/// PostgreSQL: durations by `EXTRACT(EPOCH …)`, averages cast to float8 (not numeric); claiming
/// skips rows another replica has locked, so two claimers never get the same event.
pub mod postgres {
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
        WHERE $1 IS NULL OR c.created_at >= $1";

    pub const KPI_TICKETS: &str = "
        SELECT COUNT(*) AS tickets,
               AVG(EXTRACT(EPOCH FROM claimed_at - created_at))::float8
                   AS mean_claim_seconds
        FROM handoffs
        WHERE $1 IS NULL OR created_at >= $1";

    /// Conversations in scope per bucket (`bucket` = UTC epoch seconds / $5, the bucket size) and
    /// conversation intent (the first intent the bot recognised in it; NULL: none).
    pub const KPI_CONVERSATION_BUCKETS: &str = concat!(
        "SELECT bucket, intent, COUNT(*) AS conversations FROM (
             SELECT FLOOR(EXTRACT(EPOCH FROM c.created_at) / $5)::bigint AS bucket,
                    (SELECT m.intent FROM messages m
                     WHERE m.conversation_id = c.id AND m.role = 'bot' AND m.intent IS NOT NULL
                     ORDER BY m.seq LIMIT 1) AS intent
             FROM conversations c WHERE",
        kpi_scope!(),
        ") t GROUP BY bucket, intent"
    );

    /// Measured durations by `kind`, to the second: how many (`n`) took `seconds`.
    /// `first_response` (first ticket → first agent message), `resolution` (conversation start →
    /// resolved), `wait` (ticket → claimed), `handle` (claimed → resolved, or → handed back when
    /// it was handed back after the claim).
    pub const KPI_DURATIONS: &str = concat!(
        "SELECT kind, ROUND(seconds) AS seconds, COUNT(*) AS n FROM (
         SELECT 'first_response' AS kind, EXTRACT(EPOCH FROM t.answered - t.asked)::float8 AS seconds FROM (
             SELECT (SELECT MIN(h.created_at) FROM handoffs h WHERE h.conversation_id = c.id)
                        AS asked,
                    (SELECT MIN(m.created_at) FROM messages m
                     WHERE m.conversation_id = c.id AND m.role = 'agent') AS answered
             FROM conversations c WHERE",
        kpi_scope!(),
        ") t WHERE t.asked IS NOT NULL AND t.answered IS NOT NULL
         UNION ALL
         SELECT 'resolution', EXTRACT(EPOCH FROM c.resolved_at - c.created_at)::float8
         FROM conversations c WHERE c.resolved_at IS NOT NULL AND",
        kpi_scope!(),
        "UNION ALL
         SELECT 'wait', EXTRACT(EPOCH FROM h.claimed_at - h.created_at)::float8
         FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
         WHERE h.claimed_at IS NOT NULL AND",
        kpi_scope!(),
        "UNION ALL
         SELECT 'handle', EXTRACT(EPOCH FROM h.ended - h.claimed_at)::float8 FROM (
             SELECT h.claimed_at,
                    CASE WHEN h.returned_at >= h.claimed_at THEN h.returned_at
                         ELSE h.resolved_at END AS ended
             FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE h.claimed_at IS NOT NULL AND",
        kpi_scope!(),
        ") h WHERE h.ended IS NOT NULL
         ) d WHERE seconds IS NOT NULL GROUP BY kind, ROUND(seconds)"
    );

    /// $1: now; $2: the lease's end; $3: at most this many.
    pub const CLAIM_OUTBOX: &str = "
        UPDATE outbox SET locked_until = $2
        WHERE id IN (SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
                       AND (locked_until IS NULL OR locked_until <= $1)
                     ORDER BY next_attempt_at, id
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
        RETURNING *";
}

// ---- accounts and console sessions ---------------------------------------------------------

pub const INSERT_ACCOUNT: &str = "
    INSERT INTO accounts (name, display_name, role, password_hash, disabled, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING *";

pub const ACCOUNT: &str = "SELECT * FROM accounts WHERE name = $1";

pub const ACCOUNTS: &str = "SELECT * FROM accounts ORDER BY name";

pub const ACCOUNT_COUNT: &str = "SELECT COUNT(*) FROM accounts";

pub const SET_ACCOUNT_DISABLED: &str = "
    UPDATE accounts SET disabled = $2 WHERE name = $1 RETURNING *";

pub const SET_ACCOUNT_PASSWORD: &str = "
    UPDATE accounts SET password_hash = $2 WHERE name = $1 RETURNING *";

/// A new console session; nothing when its id is taken (the caller picks another).
pub const INSERT_WEB_SESSION: &str = "
    INSERT INTO web_sessions (id_sha256, account_name, data, expires_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (id_sha256) DO NOTHING";

/// Saves a session that still exists: a session deleted meanwhile (logout, revocation) stays
/// deleted.
pub const UPDATE_WEB_SESSION: &str = "
    UPDATE web_sessions SET account_name = $2, data = $3, expires_at = $4 WHERE id_sha256 = $1";

pub const WEB_SESSION: &str = "
    SELECT account_name, data, expires_at FROM web_sessions WHERE id_sha256 = $1 AND expires_at > $2";

pub const DELETE_WEB_SESSION: &str = "DELETE FROM web_sessions WHERE id_sha256 = $1";

pub const DELETE_ACCOUNT_SESSIONS: &str = "
    DELETE FROM web_sessions WHERE account_name = $1";

pub const DELETE_EXPIRED_SESSIONS: &str = "
    DELETE FROM web_sessions WHERE expires_at <= $1";

// ---- API keys (store/api_keys.rs) ---------------------------------------------------------

pub const INSERT_API_KEY: &str = "
    INSERT INTO api_keys (id, name, scopes, key_sha256, created_at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING *";

pub const API_KEYS: &str = "SELECT * FROM api_keys ORDER BY created_at, name";

pub const API_KEY_BY_SHA256: &str = "SELECT * FROM api_keys WHERE key_sha256 = $1";

/// Revokes the live key whose id or name is $1.
pub const REVOKE_API_KEY: &str = "
    UPDATE api_keys SET revoked_at = $2
    WHERE revoked_at IS NULL AND (id = $1 OR name = $1)
    RETURNING *";

/// Stamps a use unless one was stamped after $3 (at most one write per key per interval, on
/// every replica together).
pub const TOUCH_API_KEY: &str = "
    UPDATE api_keys SET last_used_at = $2
    WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)";

// ---- the LINE channel (store/line.rs) ------------------------------------------------------

/// A redelivered event (same webhookEventId) is not stored again.
pub const INSERT_LINE_EVENT: &str = "
    INSERT INTO line_events
        (webhook_event_id, user_id, event_type, event, reply_token, reply_until, received_at,
         next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
    ON CONFLICT (webhook_event_id) DO NOTHING";

/// The claimable events: due, not leased, and the oldest undone event of their user (a user's
/// events are processed one at a time, in arrival order). $1: now; $2: the lease's end; $3: limit.
pub const CLAIM_LINE_EVENTS_SQLITE: &str = "
    UPDATE line_events SET locked_until = $2
    WHERE seq IN (SELECT e.seq FROM line_events e
                  WHERE e.done_at IS NULL AND e.next_attempt_at <= $1
                    AND (e.locked_until IS NULL OR e.locked_until <= $1)
                    AND NOT EXISTS (SELECT 1 FROM line_events o
                                    WHERE o.done_at IS NULL AND o.user_id = e.user_id
                                      AND o.seq < e.seq)
                  ORDER BY e.seq
                  LIMIT $3)
    RETURNING *";

/// As [`CLAIM_LINE_EVENTS_SQLITE`], skipping rows another replica is claiming.
pub const CLAIM_LINE_EVENTS_POSTGRES: &str = "
    UPDATE line_events SET locked_until = $2
    WHERE seq IN (SELECT e.seq FROM line_events e
                  WHERE e.done_at IS NULL AND e.next_attempt_at <= $1
                    AND (e.locked_until IS NULL OR e.locked_until <= $1)
                    AND NOT EXISTS (SELECT 1 FROM line_events o
                                    WHERE o.done_at IS NULL AND o.user_id = e.user_id
                                      AND o.seq < e.seq)
                  ORDER BY e.seq
                  LIMIT $3
                  FOR UPDATE SKIP LOCKED)
    RETURNING *";

pub const LINE_EVENT_DONE: &str = "
    UPDATE line_events SET done_at = $2, locked_until = NULL WHERE seq = $1 RETURNING seq";

pub const LINE_EVENT_RETRY: &str = "
    UPDATE line_events
    SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, locked_until = NULL
    WHERE seq = $1
    RETURNING seq";

pub const LINE_EVENTS_PENDING: &str = "SELECT COUNT(*) FROM line_events WHERE done_at IS NULL";

pub const INSERT_LINE_CONVERSATION: &str = "
    INSERT INTO conversations
        (id, locale, customer, token_sha256, status, dialogue_state, last_seq,
         created_at, updated_at, channel)
    VALUES ($1, $2, $3, $4, 'bot', $5, 0, $6, $6, 'line')
    RETURNING *";

pub const INSERT_LINE_LINK: &str = "
    INSERT INTO line_conversations (conversation_id, user_id, created_at) VALUES ($1, $2, $3)";

/// The user's newest conversation.
pub const CURRENT_LINE_CONVERSATION: &str = "
    SELECT c.* FROM conversations c
    JOIN line_conversations l ON l.conversation_id = c.id
    WHERE l.user_id = $1
    ORDER BY l.created_at DESC, c.id DESC
    LIMIT 1";

pub const LINE_LINK: &str = "SELECT * FROM line_conversations WHERE conversation_id = $1";

/// LINE conversations with something to relay (messages after `relayed_seq`, or a CSAT question
/// once resolved) whose user has no event in progress (that event's processor relays them itself,
/// with the reply token). $1: limit.
pub const LINE_LINKS_TO_RELAY: &str = "
    SELECT l.* FROM line_conversations l
    JOIN conversations c ON c.id = l.conversation_id
    WHERE (c.last_seq > l.relayed_seq OR (c.status = 'resolved' AND NOT l.csat_asked))
      AND NOT EXISTS (SELECT 1 FROM line_events e WHERE e.user_id = l.user_id AND e.done_at IS NULL)
    ORDER BY l.created_at
    LIMIT $1";

/// Compare-and-set of a link's progress: of two relayers, one moves it. $2/$3: the expected
/// seq and flag; $4/$5: the new ones.
pub const ADVANCE_LINE_LINK: &str = "
    UPDATE line_conversations SET relayed_seq = $4, csat_asked = $5
    WHERE conversation_id = $1 AND relayed_seq = $2 AND csat_asked = $3
    RETURNING conversation_id";

pub const SKIP_LINE_CSAT: &str = "
    UPDATE line_conversations SET csat_asked = TRUE WHERE conversation_id = $1";

pub const INSERT_LINE_DELIVERY: &str = "
    INSERT INTO line_deliveries
        (source, user_id, conversation_id, messages, reply_token, reply_until, retry_key,
         created_at, next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
    ON CONFLICT (source) DO NOTHING";

/// The claimable deliveries: due, not leased, and the oldest undelivered live one of their user
/// (messages arrive in order). $1: now; $2: the lease's end; $3: limit.
pub const CLAIM_LINE_DELIVERIES_SQLITE: &str = "
    UPDATE line_deliveries SET locked_until = $2
    WHERE seq IN (SELECT d.seq FROM line_deliveries d
                  WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND d.next_attempt_at <= $1
                    AND (d.locked_until IS NULL OR d.locked_until <= $1)
                    AND NOT EXISTS (SELECT 1 FROM line_deliveries o
                                    WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
                                      AND o.user_id = d.user_id AND o.seq < d.seq)
                  ORDER BY d.seq
                  LIMIT $3)
    RETURNING *";

pub const CLAIM_LINE_DELIVERIES_POSTGRES: &str = "
    UPDATE line_deliveries SET locked_until = $2
    WHERE seq IN (SELECT d.seq FROM line_deliveries d
                  WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND d.next_attempt_at <= $1
                    AND (d.locked_until IS NULL OR d.locked_until <= $1)
                    AND NOT EXISTS (SELECT 1 FROM line_deliveries o
                                    WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
                                      AND o.user_id = d.user_id AND o.seq < d.seq)
                  ORDER BY d.seq
                  LIMIT $3
                  FOR UPDATE SKIP LOCKED)
    RETURNING *";

pub const LINE_DELIVERED: &str = "
    UPDATE line_deliveries SET delivered_at = $2, delivered_by = $3, locked_until = NULL
    WHERE seq = $1
    RETURNING seq";

/// A failed attempt to try again at $3; the reply token is dropped (the retry pushes).
pub const LINE_DELIVERY_RETRY: &str = "
    UPDATE line_deliveries
    SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, locked_until = NULL,
        reply_token = NULL, reply_until = NULL
    WHERE seq = $1
    RETURNING seq";

pub const LINE_DELIVERY_DEAD: &str = "
    UPDATE line_deliveries
    SET attempts = attempts + 1, last_error = $2, dead_at = $3, locked_until = NULL
    WHERE seq = $1
    RETURNING seq";

/// $1: the conversation (NULL: every one); newest first.
pub const LINE_DELIVERIES: &str = "
    SELECT * FROM line_deliveries
    WHERE $1 IS NULL OR conversation_id = $1
    ORDER BY seq DESC
    LIMIT $2";

pub const LINE_DELIVERY_STATS: &str = "
    SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
           COUNT(dead_at) AS dead,
           COUNT(delivered_at) AS delivered
    FROM line_deliveries";

// ---- model publications, audit log, regression set -----------------------------------------

pub const INSERT_PUBLICATION: &str = "
    INSERT INTO model_publications (version, threshold, action, actor, created_at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id, version, threshold, action, actor, created_at";

pub const LATEST_PUBLICATION: &str = "
    SELECT id, version, threshold, action, actor, created_at
    FROM model_publications ORDER BY id DESC LIMIT 1";

pub const PUBLICATIONS: &str = "
    SELECT id, version, threshold, action, actor, created_at
    FROM model_publications ORDER BY id";

pub const INSERT_AUDIT: &str = "
    INSERT INTO audit_log (actor, action, subject, detail, created_at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id, actor, action, subject, detail, created_at";

/// $1: only ids below this (NULL: from the newest); $2: at most this many.
pub const AUDIT_LOG: &str = "
    SELECT id, actor, action, subject, detail, created_at
    FROM audit_log WHERE $1 IS NULL OR id < $1
    ORDER BY id DESC LIMIT $2";

pub const INSERT_REGRESSION_CASE: &str = "
    INSERT INTO regression_cases
        (id, text, expected_intent, expected_action, created_by, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING id, text, expected_intent, expected_action, created_by, created_at";

pub const REGRESSION_CASES: &str = "
    SELECT id, text, expected_intent, expected_action, created_by, created_at
    FROM regression_cases ORDER BY created_at, id";

pub const DELETE_REGRESSION_CASE: &str = "DELETE FROM regression_cases WHERE id = $1";

// ---- the annotation inbox ------------------------------------------------------------------

/// Customer messages the bot missed, newest first, that no lead has decided about yet: the turn's
/// bot message (same conversation, next seq, same time) clarified, asked to rephrase, said it
/// cannot help, or was below the confidence `$3`, or got 👎; the turn handed off after a miss
/// (low confidence, out of scope); or the conversation was rated CSAT ≤ 2. `$1`/`$2`: the time
/// range (NULL: open), `$4`: at most this many.
pub const INBOX_CANDIDATES: &str = "
    SELECT m.id AS message_id, m.conversation_id, m.seq, m.text, m.created_at,
           c.locale, c.csat_score,
           b.intent, b.confidence, b.action, b.reason AS turn_kind, b.alternatives,
           b.feedback_helpful, h.reason AS handoff_reason
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    LEFT JOIN messages b
      ON b.conversation_id = m.conversation_id AND b.seq = m.seq + 1 AND b.role = 'bot'
     AND b.created_at = m.created_at
    LEFT JOIN handoffs h
      ON h.conversation_id = m.conversation_id AND h.created_at = m.created_at
    WHERE m.role = 'customer'
      AND ($1 IS NULL OR m.created_at >= $1)
      AND ($2 IS NULL OR m.created_at < $2)
      AND NOT EXISTS (SELECT 1 FROM inbox_decisions d WHERE d.message_id = m.id)
      AND (b.reason IN ('clarify', 'rephrase', 'out_of_scope')
           OR b.confidence < $3
           OR NOT b.feedback_helpful
           OR h.reason IN ('low_confidence', 'out_of_scope')
           OR c.csat_score <= 2)
    ORDER BY m.created_at DESC, m.id
    LIMIT $4";

/// One customer message with its turn, as [`INBOX_CANDIDATES`] reads it (decided or not).
pub const INBOX_MESSAGE: &str = "
    SELECT m.id AS message_id, m.conversation_id, m.seq, m.text, m.created_at,
           c.locale, c.csat_score,
           b.intent, b.confidence, b.action, b.reason AS turn_kind, b.alternatives,
           b.feedback_helpful, h.reason AS handoff_reason
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    LEFT JOIN messages b
      ON b.conversation_id = m.conversation_id AND b.seq = m.seq + 1 AND b.role = 'bot'
     AND b.created_at = m.created_at
    LEFT JOIN handoffs h
      ON h.conversation_id = m.conversation_id AND h.created_at = m.created_at
    WHERE m.id = $1 AND m.role = 'customer'";

pub const INSERT_INBOX_DECISION: &str = "
    INSERT INTO inbox_decisions
        (id, message_id, batch_id, kind, intent, locale, example, decided_by, decided_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub const DELETE_INBOX_BATCH: &str = "
    DELETE FROM inbox_decisions WHERE batch_id = $1
    RETURNING id, message_id, batch_id, kind, intent, locale, example, decided_by, decided_at";
