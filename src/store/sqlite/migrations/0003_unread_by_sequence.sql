-- 0003: unread counts in constant time.
-- Counting "other members' messages above my read marker" by scanning made
-- a chat with a million messages cost a million index steps per view. Now
-- each message has a per-chat sequence number and each chat knows its last
-- one, so the count is: (messages after the marker) - (my own messages after
-- the marker), the first by subtraction, the second by a short range scan of
-- my own messages.

ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_members ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;

UPDATE messages SET seq = ranked.seq
FROM (SELECT id, row_number() OVER (PARTITION BY chat_id ORDER BY id) AS seq FROM messages) AS ranked
WHERE messages.id = ranked.id;

UPDATE chats SET last_seq = (SELECT COUNT(*) FROM messages WHERE messages.chat_id = chats.id);

UPDATE chat_members SET last_read_seq = COALESCE(
    (SELECT seq FROM messages WHERE messages.id = chat_members.last_read_message_id), 0);

-- history paging stays on (chat_id, id); the sender rides along no more
DROP INDEX messages_by_chat;
CREATE INDEX messages_by_chat ON messages(chat_id, id);
-- a member's own messages in a chat, for the unread count
CREATE INDEX messages_by_sender ON messages(chat_id, sender_id, id);
