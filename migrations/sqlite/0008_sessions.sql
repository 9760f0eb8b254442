-- Console login sessions, kept for tower-sessions by the console's SessionStore
-- (src/web/console/session_store.rs). They replace the hand-written console_sessions.
DROP TABLE console_sessions;

CREATE TABLE web_sessions (
    -- SHA-256 of the session id the cookie carries, so a copy of the database opens no session.
    id_sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(id_sha256) = 64),
    -- Who is logged in: disabling the account or changing its password deletes its sessions.
    account_name TEXT REFERENCES accounts (name) ON DELETE CASCADE,
    -- The session's record (JSON: the login, the CSRF token).
    data TEXT NOT NULL,
    -- Slides forward on use (idle expiry), never past the login's absolute limit.
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX web_sessions_account ON web_sessions (account_name);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
