-- Conversations, their messages, and handoff tickets (see src/store/mod.rs for the invariants).

CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    locale text CHECK (locale <> ''),
    -- Customer metadata as given (id, name, email, order_ids, ...).
    customer jsonb,
    -- SHA-256 (lowercase hex) of the customer's bearer token; the token itself is never stored.
    token_sha256 text NOT NULL CHECK (length(token_sha256) = 64),
    status text NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'handoff', 'agent', 'resolved')),
    -- Opaque state owned by the dialogue layer, replaced on every bot turn.
    dialogue_state jsonb NOT NULL DEFAULT '{}',
    -- Seq of the last message; messages take the next one under the conversation's row lock.
    last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    resolved_at timestamptz,
    csat_score integer CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment text,
    first_contact_resolution boolean,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);

CREATE INDEX conversations_created_at ON conversations (created_at);

CREATE TABLE messages (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq bigint NOT NULL CHECK (seq > 0),
    role text NOT NULL CHECK (role IN ('customer', 'bot', 'agent', 'system')),
    text text NOT NULL,
    created_at timestamptz NOT NULL,
    -- Bot turns: the classification and the decision.
    intent text,
    confidence double precision CHECK (confidence BETWEEN 0 AND 1),
    action text CHECK (action IN ('answer', 'clarify', 'handoff')),
    reason text,
    alternatives jsonb,
    quick_replies jsonb,
    -- Agent messages: who wrote it.
    agent_id text,
    -- "Did this help?" on a bot answer.
    feedback_helpful boolean,
    feedback_comment text,
    feedback_at timestamptz,
    UNIQUE (conversation_id, seq),
    CHECK ((role = 'agent') = (agent_id IS NOT NULL)),
    CHECK (role = 'bot' OR (action IS NULL AND feedback_helpful IS NULL))
);

CREATE INDEX messages_bot_created_at ON messages (created_at) WHERE role = 'bot';

CREATE TABLE handoffs (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'claimed', 'returned', 'resolved')),
    reason text NOT NULL CHECK (reason <> ''),
    intent text,
    locale text NOT NULL CHECK (locale <> ''),
    summary jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    claimed_at timestamptz,
    claimed_by text,
    resolved_at timestamptz,
    resolution_code text,
    returned_at timestamptz,
    CHECK (status <> 'claimed' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL)),
    CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
);

-- The queue: waiting tickets, oldest first.
CREATE INDEX handoffs_queue ON handoffs (status, created_at, id);
CREATE INDEX handoffs_conversation ON handoffs (conversation_id);
CREATE INDEX handoffs_created_at ON handoffs (created_at);
-- At most one open (waiting or claimed) ticket per conversation.
CREATE UNIQUE INDEX handoffs_one_open ON handoffs (conversation_id)
    WHERE status IN ('waiting', 'claimed');
