-- Model versions: which trained version (`models/<version>/`) every replica serves, as a history
-- of publish and rollback events (the newest row is the published one); the audit log; and the
-- regression set every candidate model is checked against.

CREATE TABLE model_publications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version text NOT NULL CHECK (version <> '' AND length(version) <= 128),
    -- The answer threshold chosen when publishing (NULL: the trained one).
    threshold double precision CHECK (threshold IS NULL OR (threshold >= 0 AND threshold <= 1)),
    action text NOT NULL CHECK (action IN ('publish', 'rollback')),
    actor text NOT NULL CHECK (actor <> ''),
    created_at timestamptz NOT NULL
);

-- Who did what, when: train, publish, rollback, intent edits, labels.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor text NOT NULL CHECK (actor <> ''),
    action text NOT NULL CHECK (action <> ''),
    subject text NOT NULL,
    -- JSON object.
    detail text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX audit_log_created_at ON audit_log (created_at);

-- Pinned messages with what the bot must do with them (intent and/or action).
CREATE TABLE regression_cases (
    id uuid PRIMARY KEY,
    text text NOT NULL CHECK (text <> ''),
    expected_intent text,
    expected_action text CHECK (expected_action IS NULL
        OR expected_action IN ('answer', 'clarify', 'handoff')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK (expected_intent IS NOT NULL OR expected_action IS NOT NULL)
);
