-- seed_history.py's work for chat-server on PostgreSQL (the schema of
-- src/store/postgres/migrations/0001_init.sql): appends :count messages to
-- one existing chat in one INSERT … SELECT generate_series, numbers them on
-- from the chat's last_seq, makes the newest one the chat's last message,
-- and leaves the reading user (:a) caught up, scrolling back (b has read
-- nothing). Times are Unix milliseconds, one per message, ending now.
-- Then VACUUM ANALYZE, as autovacuum would do soon after such a load, so the
-- benchmark does not measure a table without statistics.
--
-- usage: psql postgres://…/DB -X -qtA -v ON_ERROR_STOP=1 \
--          -v chat=CHAT_ID -v a=SENDER_A -v b=SENDER_B -v count=COUNT \
--          -f bench/seed_history_pg.sql
-- prints the id of the newest message

BEGIN;
SELECT last_seq AS base FROM chats WHERE id = :chat FOR UPDATE \gset
SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint - :count AS now_ms \gset

-- Ids come from the identity in the order of i, so id and seq rise together.
INSERT INTO messages (chat_id, sender_id, kind, text, created_at, seq)
SELECT :chat,
       CASE WHEN i % 2 = 0 THEN :a ELSE :b END,
       'text',
       'history message ' || i || ': some words to make it a realistic size',
       :now_ms + i,
       :base + i + 1
FROM generate_series(0, :count - 1) AS i
ORDER BY i;

SELECT MAX(id) AS newest FROM messages WHERE chat_id = :chat \gset
UPDATE chats SET last_message_id = :newest, last_activity_at = :now_ms + :count - 1, last_seq = :base + :count
WHERE id = :chat;
-- The reader (a) is caught up and scrolls back; b has read nothing.
UPDATE chat_members SET last_read_message_id = :newest, last_read_seq = :base + :count, sent_since_read = 0
WHERE chat_id = :chat AND user_id = :a;
UPDATE chat_members SET sent_since_read = sent_since_read + :count / 2
WHERE chat_id = :chat AND user_id = :b;
COMMIT;

VACUUM (ANALYZE) messages, chats, chat_members;
SELECT :newest;
