-- The annotation inbox: what a lead decided about a customer message the bot missed. The inbox
-- itself is read from the stored turns; a message with a decision no longer shows there (an
-- ignored one never comes back), and undoing a decision deletes it.

CREATE TABLE inbox_decisions (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    -- The decisions of one action (a bulk action on a group shares one batch): undone together.
    batch_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('labelled', 'out_of_scope', 'ignored')),
    intent TEXT CHECK ((kind = 'labelled') = (intent IS NOT NULL)),
    locale TEXT CHECK (locale IS NULL OR locale <> ''),
    -- The utterance written to the training data (masked unless the lead said not to).
    example TEXT,
    decided_by TEXT NOT NULL CHECK (decided_by <> ''),
    decided_at TEXT NOT NULL
) STRICT;

CREATE INDEX inbox_decisions_batch ON inbox_decisions (batch_id);
-- The inbox scan: customer messages by time.
CREATE INDEX messages_customer_created_at ON messages (created_at) WHERE role = 'customer';
