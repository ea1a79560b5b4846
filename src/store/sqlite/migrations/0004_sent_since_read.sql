-- 0004: unread counts in constant time, part two.
-- Counting "my own messages after my read marker" with an index range was
-- fast only while that range was short; someone who sent half a million
-- messages and never marked anything read paid for all of them on every
-- chat view. Each member now carries that number, kept up to date on every
-- send and recounted (from the marker on) when the marker moves.

ALTER TABLE chat_members ADD COLUMN sent_since_read INTEGER NOT NULL DEFAULT 0;

UPDATE chat_members SET sent_since_read = (
    SELECT COUNT(*) FROM messages m
    WHERE m.chat_id = chat_members.chat_id
      AND m.sender_id = chat_members.user_id
      AND m.id > chat_members.last_read_message_id);

-- The counter replaces the index: one write fewer per message.
DROP INDEX messages_by_sender;
