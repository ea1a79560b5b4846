-- 0002: file attachments. The bytes live in the blob store under
-- uploads/ab/cd/<sha256>; identical files share one blob. A row describes one
-- upload: the name it was sent under and the chat it was sent to (which
-- decides who may fetch it).

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id       INTEGER NOT NULL REFERENCES chats(id),
    uploader_id   INTEGER NOT NULL REFERENCES users(id),
    -- the client's file name, cleaned; for display only, never a path
    filename      TEXT    NOT NULL,
    content_type  TEXT    NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size          INTEGER NOT NULL CHECK (size >= 0),
    -- hex SHA-256 of the bytes, also the blob's key
    sha256        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX attachments_by_sha256 ON attachments(sha256);
