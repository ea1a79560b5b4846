#!/usr/bin/env python3
"""Appends N messages to one existing chat, straight into a stopped server's
SQLite file, for the history benchmark. Knows both schemas: chat-server's
(times as Unix milliseconds) and the Node reference's (times as ISO text).
The reading user (SENDER_A) is left caught up, scrolling back through the
chat: both servers then compute its unread count without a long scan, so
the benchmark measures paging, not counting.

usage: seed_history.py DB {rust|node} CHAT_ID SENDER_A SENDER_B COUNT
prints the id of the newest message

chat-server on PostgreSQL: seed_history_pg.sql, the same through psql.
"""
import sqlite3
import sys
import time

db, schema, chat_id, a, b, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
now_ms = int(time.time() * 1000) - count


def stamp(i):
    ms = now_ms + i
    if schema == "rust":
        return ms
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


text = "history message %d: some words to make it a realistic size"
with conn:
    if schema == "rust":
        # chat-server numbers each chat's messages (seq) and keeps the last.
        base = conn.execute("SELECT last_seq FROM chats WHERE id = ?", (chat_id,)).fetchone()[0]
        rows = ((chat_id, a if i % 2 == 0 else b, "text", text % i, stamp(i), base + i + 1) for i in range(count))
        conn.executemany(
            "INSERT INTO messages (chat_id, sender_id, kind, text, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)", rows)
        newest = conn.execute("SELECT MAX(id) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0]
        conn.execute("UPDATE chats SET last_message_id = ?, last_activity_at = ?, last_seq = ? WHERE id = ?",
                     (newest, stamp(count - 1), base + count, chat_id))
        # The reader (a) is caught up and scrolls back; b has read nothing.
        conn.execute("UPDATE chat_members SET last_read_message_id = ?, last_read_seq = ?, sent_since_read = 0"
                     " WHERE chat_id = ? AND user_id = ?", (newest, base + count, chat_id, a))
        conn.execute("UPDATE chat_members SET sent_since_read = sent_since_read + ? WHERE chat_id = ? AND user_id = ?",
                     (count // 2, chat_id, b))
    else:
        rows = ((chat_id, a if i % 2 == 0 else b, "text", text % i, stamp(i)) for i in range(count))
        conn.executemany(
            "INSERT INTO messages (chat_id, sender_id, kind, text, created_at) VALUES (?, ?, ?, ?, ?)", rows)
        newest = conn.execute("SELECT MAX(id) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0]
        conn.execute("UPDATE chats SET last_message_id = ?, last_activity_at = ? WHERE id = ?",
                     (newest, stamp(count - 1), chat_id))
        conn.execute("UPDATE chat_members SET last_read_message_id = ? WHERE chat_id = ? AND user_id = ?",
                     (newest, chat_id, a))
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
print(newest)
