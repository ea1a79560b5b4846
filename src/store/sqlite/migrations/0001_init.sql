-- 0001: users, chats, members and text messages.
-- Times are Unix milliseconds (INTEGER); the API formats them as RFC 3339.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    -- unique without regard to case; usernames are ASCII, so NOCASE is exact
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name   TEXT    NOT NULL,
    -- lower-cased display name (Unicode-aware, done in Rust) for prefix search
    display_lower  TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    last_seen_at   INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE chats (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name              TEXT,
    created_by        INTEGER NOT NULL REFERENCES users(id),
    created_at        INTEGER NOT NULL,
    -- the two users of a direct chat, lower id first (equal for a self-chat)
    direct_lo         INTEGER REFERENCES users(id),
    direct_hi         INTEGER REFERENCES users(id),
    last_message_id   INTEGER,
    -- created_at, then the time of the newest message: orders GET /chats
    last_activity_at  INTEGER NOT NULL,
    CHECK ((kind = 'direct') = (direct_lo IS NOT NULL AND direct_hi IS NOT NULL))
);
-- the one direct chat between two users
CREATE UNIQUE INDEX chats_direct_pair ON chats(direct_lo, direct_hi) WHERE kind = 'direct';

CREATE TABLE chat_members (
    chat_id               INTEGER NOT NULL REFERENCES chats(id),
    user_id               INTEGER NOT NULL REFERENCES users(id),
    role                  TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at             INTEGER NOT NULL,
    -- read marker: only moves forward
    last_read_message_id  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
-- a user's chats, index-only (the primary key columns ride along)
CREATE INDEX chat_members_by_user ON chat_members(user_id, chat_id);

CREATE TABLE messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id        INTEGER NOT NULL REFERENCES chats(id),
    sender_id      INTEGER NOT NULL REFERENCES users(id),
    kind           TEXT    NOT NULL CHECK (kind IN ('text', 'file')),
    text           TEXT,
    attachment_id  INTEGER,
    client_id      TEXT,
    created_at     INTEGER NOT NULL
);
-- history paging by (chat_id, id); sender_id rides along so unread counts
-- ("other members' messages above the marker") are index-only
CREATE INDEX messages_by_chat ON messages(chat_id, id, sender_id);
-- idempotent sends: one message per (sender, client_id)
CREATE UNIQUE INDEX messages_client_id ON messages(sender_id, client_id) WHERE client_id IS NOT NULL;
