-- Conversations, their messages, and handoff tickets (see src/store/mod.rs for the invariants).

CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    locale TEXT CHECK (locale <> ''),
    -- Customer metadata as given (id, name, email, order_ids, ...).
    customer TEXT CHECK (customer IS NULL OR json_valid(customer)),
    -- SHA-256 (lowercase hex) of the customer's bearer token; the token itself is never stored.
    token_sha256 TEXT NOT NULL CHECK (length(token_sha256) = 64),
    status TEXT NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'handoff', 'agent', 'resolved')),
    -- Opaque state owned by the dialogue layer, replaced on every bot turn.
    dialogue_state TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(dialogue_state)),
    -- Seq of the last message; messages take the next one under the conversation's row lock.
    last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    csat_score INTEGER CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment TEXT,
    first_contact_resolution INTEGER CHECK (first_contact_resolution IN (0, 1)),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
) STRICT;

CREATE INDEX conversations_created_at ON conversations (created_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq > 0),
    role TEXT NOT NULL CHECK (role IN ('customer', 'bot', 'agent', 'system')),
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- Bot turns: the classification and the decision.
    intent TEXT,
    confidence REAL CHECK (confidence BETWEEN 0 AND 1),
    action TEXT CHECK (action IN ('answer', 'clarify', 'handoff')),
    reason TEXT,
    alternatives TEXT CHECK (alternatives IS NULL OR json_valid(alternatives)),
    quick_replies TEXT CHECK (quick_replies IS NULL OR json_valid(quick_replies)),
    -- Agent messages: who wrote it.
    agent_id TEXT,
    -- "Did this help?" on a bot answer.
    feedback_helpful INTEGER CHECK (feedback_helpful IN (0, 1)),
    feedback_comment TEXT,
    feedback_at TEXT,
    UNIQUE (conversation_id, seq),
    CHECK ((role = 'agent') = (agent_id IS NOT NULL)),
    CHECK (role = 'bot' OR (action IS NULL AND feedback_helpful IS NULL))
) STRICT;

CREATE INDEX messages_bot_created_at ON messages (created_at) WHERE role = 'bot';

CREATE TABLE handoffs (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'claimed', 'returned', 'resolved')),
    reason TEXT NOT NULL CHECK (reason <> ''),
    intent TEXT,
    locale TEXT NOT NULL CHECK (locale <> ''),
    summary TEXT NOT NULL CHECK (json_valid(summary)),
    created_at TEXT NOT NULL,
    claimed_at TEXT,
    claimed_by TEXT,
    resolved_at TEXT,
    resolution_code TEXT,
    returned_at TEXT,
    CHECK (status <> 'claimed' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL)),
    CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
) STRICT;

-- The queue: waiting tickets, oldest first.
CREATE INDEX handoffs_queue ON handoffs (status, created_at, id);
CREATE INDEX handoffs_conversation ON handoffs (conversation_id);
CREATE INDEX handoffs_created_at ON handoffs (created_at);
-- At most one open (waiting or claimed) ticket per conversation.
CREATE UNIQUE INDEX handoffs_one_open ON handoffs (conversation_id)
    WHERE status IN ('waiting', 'claimed');
