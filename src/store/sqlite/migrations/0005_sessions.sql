-- 0005: sessions (v2). A login is a session, one per device: access tokens
-- name it, and its refresh token (stored only as a SHA-256 hash) renews
-- them. A spent refresh token is remembered so that presenting it again is
-- recognised as a copy and revokes the session. Every revocation gets a
-- number in `session_revocations`, so that running servers (and the other
-- nodes) can pick up revocations made elsewhere, by the operator's CLI say,
-- by reading what came after the last number they saw.

ALTER TABLE users ADD COLUMN disabled_at INTEGER;

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL REFERENCES users(id),
    device_name         TEXT,
    user_agent          TEXT,
    ip                  TEXT,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER NOT NULL,
    -- hex SHA-256 of the current refresh token
    refresh_hash        TEXT    NOT NULL,
    -- slides forward on every refresh
    refresh_expires_at  INTEGER NOT NULL,
    revoked_at          INTEGER
);
CREATE UNIQUE INDEX sessions_refresh_hash ON sessions(refresh_hash);
CREATE INDEX sessions_by_user ON sessions(user_id, last_used_at);

CREATE TABLE spent_refresh_tokens (
    hash        TEXT    PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    spent_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE session_revocations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    revoked_at  INTEGER NOT NULL
);
