-- Named API keys with scopes (`madoguchi key create`, `/v1/admin/keys`). Only the SHA-256 of a
-- key is stored (the key itself is 256 random bits, shown once at creation), so a copy of the
-- database opens nothing. A revoked key keeps its row (for the listing), with revoked_at set.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name TEXT NOT NULL CHECK (name <> '' AND length(name) <= 64),
    -- Comma-separated, sorted: a non-empty subset of classify, agent, admin.
    scopes TEXT NOT NULL CHECK (scopes <> ''),
    key_sha256 TEXT NOT NULL UNIQUE CHECK (length(key_sha256) = 64),
    created_at TEXT NOT NULL,
    -- Updated at most once a minute per key.
    last_used_at TEXT,
    revoked_at TEXT
) STRICT;

-- A name names at most one live key (a revoked key's name may be used again).
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
