-- People's accounts (agents, leads, admins) and their console sessions.

CREATE TABLE accounts (
    name TEXT PRIMARY KEY NOT NULL CHECK (name <> '' AND length(name) <= 64),
    display_name TEXT NOT NULL CHECK (display_name <> ''),
    role TEXT NOT NULL CHECK (role IN ('agent', 'lead', 'admin')),
    -- argon2id, PHC string format.
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

-- A login: only the hash of the cookie's token is stored. Deleted on logout, and all of an
-- account's when it is disabled or its password changes.
CREATE TABLE console_sessions (
    token_sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(token_sha256) = 64),
    account_name TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL CHECK (length(csrf_token) >= 32),
    created_at TEXT NOT NULL,
    -- Slides forward on use (idle expiry), never past absolute_expires_at.
    expires_at TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX console_sessions_account ON console_sessions (account_name);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
