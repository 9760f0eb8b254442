-- Channels: which channel a conversation came through (KPIs filter by it), and the LINE channel's
-- durable state: received webhook events (nothing a customer wrote is lost between the 200 and
-- the turn), which conversation is a LINE user's, and the outbox of calls to the LINE API.

ALTER TABLE conversations ADD COLUMN channel text NOT NULL DEFAULT 'web'
    CHECK (channel IN ('web', 'api', 'line'));
CREATE INDEX conversations_channel ON conversations (channel, created_at);

-- Webhook events as received (after the signature check), processed in arrival order per user.
-- A redelivery (same webhookEventId) is not stored twice.
CREATE TABLE line_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_event_id text NOT NULL UNIQUE CHECK (webhook_event_id <> ''),
    -- source.userId; NULL for sources the channel does not answer (groups without a user).
    user_id text CHECK (user_id IS NULL OR user_id <> ''),
    event_type text NOT NULL,
    event jsonb NOT NULL,
    reply_token text,
    -- Until when the reply token may be used (it expires about a minute after the webhook).
    reply_until timestamptz,
    received_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    -- A processor's lease: nobody else takes the event before this time.
    locked_until timestamptz,
    done_at timestamptz,
    last_error text
);

CREATE INDEX line_events_pending ON line_events (user_id, seq) WHERE done_at IS NULL;

-- The conversations of LINE users (the newest is the user's current one) and how far each has
-- been relayed to LINE.
CREATE TABLE line_conversations (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    user_id text NOT NULL CHECK (user_id <> ''),
    -- Messages up to this seq are in line_deliveries (or were not for the customer).
    relayed_seq bigint NOT NULL DEFAULT 0 CHECK (relayed_seq >= 0),
    -- The resolved conversation's CSAT question is in line_deliveries (or must not be asked).
    csat_asked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

CREATE INDEX line_conversations_user ON line_conversations (user_id, created_at);

-- The outbox of LINE API calls: one row per reply/push call (at most 5 messages), delivered in
-- order per user, retried with backoff, given up on as a dead letter.
CREATE TABLE line_deliveries (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What the call delivers; a second copy of the same thing is not stored.
    source text NOT NULL UNIQUE CHECK (source <> ''),
    user_id text NOT NULL CHECK (user_id <> ''),
    conversation_id uuid REFERENCES conversations (id) ON DELETE CASCADE,
    -- The LINE message objects (1 to 5).
    messages jsonb NOT NULL,
    reply_token text,
    reply_until timestamptz,
    -- X-Line-Retry-Key of the push: the same on every retry, so LINE never sends twice.
    retry_key uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    locked_until timestamptz,
    delivered_at timestamptz,
    -- 'reply' or 'push'.
    delivered_by text CHECK (delivered_by IS NULL OR delivered_by IN ('reply', 'push')),
    dead_at timestamptz,
    last_error text
);

CREATE INDEX line_deliveries_due ON line_deliveries (user_id, seq)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX line_deliveries_conversation ON line_deliveries (conversation_id);
