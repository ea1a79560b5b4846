-- 0006 (v2): replies, edits, deletions (tombstones), reactions, and the
-- search index. The index is filled for existing messages by the step
-- that follows this file (migrations.rs), with progress in the log.

ALTER TABLE messages ADD COLUMN reply_to_id INTEGER REFERENCES messages(id);
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
-- reaction rows of the message: 0 spares history the look-up
ALTER TABLE messages ADD COLUMN reaction_count INTEGER NOT NULL DEFAULT 0;

-- one row per (message, emoji, user); the rowid orders emoji by first use
CREATE TABLE reactions (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    emoji       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX reactions_once ON reactions (message_id, emoji, user_id);

-- The search index of live messages, rowid = message id: `body` holds the
-- text's words and `name` the file name's, folded and cut by the server
-- (domain/words.rs, the same for PostgreSQL) and joined by spaces, which
-- is all the ascii tokenizer splits on here. Contentless: the words are
-- indexed, not kept a second time; rows are deleted by rowid.
CREATE VIRTUAL TABLE message_search USING fts5(
    body, name, content = '', contentless_delete = 1, tokenize = 'ascii'
);

-- The index's newest part: a message's words land here, one appended row
-- in the transaction that writes the message, and move into FTS5 in bulk
-- a few times a second (FTS5 writes a segment per transaction, which per
-- batch of sends cost as much as the sends themselves). Searches read
-- both parts. The same role as the pending list of PostgreSQL's GIN.
CREATE TABLE search_pending (
    id    INTEGER PRIMARY KEY,  -- the message id
    body  TEXT NOT NULL,
    name  TEXT NOT NULL
);
