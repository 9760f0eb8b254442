-- Idempotent customer turns, the webhook outbox, stream tickets and private ticket notes.

-- Customer messages: the client's id for the message (a resend carries the same one) and an opaque
-- snapshot of the turn's outcome, stored with the turn and returned on a resend.
ALTER TABLE messages ADD COLUMN client_message_id TEXT
    CHECK (client_message_id IS NULL OR (role = 'customer' AND client_message_id <> ''));
ALTER TABLE messages ADD COLUMN outcome TEXT
    CHECK (outcome IS NULL OR (role = 'customer' AND json_valid(outcome)));
-- A client_message_id names one message of a conversation: a second copy is refused.
CREATE UNIQUE INDEX messages_client_message_id ON messages (conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

-- Webhook events, written in the transaction that opens or resolves the ticket, delivered later
-- (at least once) by whichever replica claims them.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('handoff.opened', 'handoff.resolved')),
    ticket_id TEXT NOT NULL REFERENCES handoffs (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    -- A claimer's lease: nobody else claims the event before this time.
    locked_until TEXT,
    delivered_at TEXT,
    -- Given up on (a dead letter).
    dead_at TEXT,
    last_error TEXT
) STRICT;

-- The due scan: undelivered live events by next attempt.
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_created_at ON outbox (created_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);

-- Short-lived, single-use tickets that open a conversation's event stream; only the hash is stored.
CREATE TABLE stream_tickets (
    ticket_sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(ticket_sha256) = 64),
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX stream_tickets_expires_at ON stream_tickets (expires_at);
CREATE INDEX stream_tickets_conversation ON stream_tickets (conversation_id);

-- Agents' private notes on a ticket (not part of the transcript).
CREATE TABLE ticket_notes (
    id TEXT PRIMARY KEY NOT NULL,
    handoff_id TEXT NOT NULL REFERENCES handoffs (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL CHECK (agent_id <> ''),
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX ticket_notes_handoff ON ticket_notes (handoff_id, created_at);
