-- People's accounts (agents, leads, admins) and their console sessions.

CREATE TABLE accounts (
    name text PRIMARY KEY CHECK (name <> '' AND length(name) <= 64),
    display_name text NOT NULL CHECK (display_name <> ''),
    role text NOT NULL CHECK (role IN ('agent', 'lead', 'admin')),
    -- argon2id, PHC string format.
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

-- A login: only the hash of the cookie's token is stored. Deleted on logout, and all of an
-- account's when it is disabled or its password changes.
CREATE TABLE console_sessions (
    token_sha256 text PRIMARY KEY CHECK (length(token_sha256) = 64),
    account_name text NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    csrf_token text NOT NULL CHECK (length(csrf_token) >= 32),
    created_at timestamptz NOT NULL,
    -- Slides forward on use (idle expiry), never past absolute_expires_at.
    expires_at timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL
);

CREATE INDEX console_sessions_account ON console_sessions (account_name);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
