-- 0007 (v2): catch-up without gaps. Every chat event is logged here in
-- the transaction of the change that makes it, with its payload as it was
-- at commit time. `seq` is the commit order: the one writer gives each
-- event the next number (the newest event is never pruned, so numbers
-- never come back).

-- the seq of the message's latest change (0: older than the log)
ALTER TABLE messages ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
-- the first seq a member hears of the chat (0: a member from before the log)
ALTER TABLE chat_members ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    -- the chat whose members at `seq` receive it; NULL: event_recipients
    -- name who does (added_to_group, user_updated)
    chat_id     INTEGER,
    kind        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_by_chat ON events (chat_id, seq) WHERE chat_id IS NOT NULL;

CREATE TABLE event_recipients (
    user_id  INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- memberships that ended: the member heard the chat's events from
-- joined_seq through left_seq (their member_removed)
CREATE TABLE member_spans (
    user_id     INTEGER NOT NULL,
    chat_id     INTEGER NOT NULL,
    joined_seq  INTEGER NOT NULL,
    left_seq    INTEGER NOT NULL,
    PRIMARY KEY (user_id, chat_id, left_seq)
) WITHOUT ROWID;

-- events up to this seq were pruned (a `since` below it is too old)
CREATE TABLE event_log (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through  INTEGER NOT NULL
);
INSERT INTO event_log (id, pruned_through) VALUES (1, 0);
