-- Model versions: which trained version (`models/<version>/`) every replica serves, as a history
-- of publish and rollback events (the newest row is the published one); the audit log; and the
-- regression set every candidate model is checked against.

CREATE TABLE model_publications (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL CHECK (version <> '' AND length(version) <= 128),
    -- The answer threshold chosen when publishing (NULL: the trained one).
    threshold REAL CHECK (threshold IS NULL OR (threshold >= 0 AND threshold <= 1)),
    action TEXT NOT NULL CHECK (action IN ('publish', 'rollback')),
    actor TEXT NOT NULL CHECK (actor <> ''),
    created_at TEXT NOT NULL
) STRICT;

-- Who did what, when: train, publish, rollback, intent edits, labels.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL CHECK (actor <> ''),
    action TEXT NOT NULL CHECK (action <> ''),
    subject TEXT NOT NULL,
    -- JSON object.
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_created_at ON audit_log (created_at);

-- Pinned messages with what the bot must do with them (intent and/or action).
CREATE TABLE regression_cases (
    id TEXT PRIMARY KEY NOT NULL,
    text TEXT NOT NULL CHECK (text <> ''),
    expected_intent TEXT,
    expected_action TEXT CHECK (expected_action IS NULL
        OR expected_action IN ('answer', 'clarify', 'handoff')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (expected_intent IS NOT NULL OR expected_action IS NOT NULL)
) STRICT;
