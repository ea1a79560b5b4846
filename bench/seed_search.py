#!/usr/bin/env python3
"""Fills a stopped chat-server's store with COUNT messages for the search
benchmark: a tenth in the searcher's chat (CHAT_ID, between SENDER_A and
SENDER_B), the rest in nine chats of other users the searcher is not in.
Each message is eight words drawn from 5,000 made-up words with Zipf's law
(the commonest in about half the messages), plus one word found in exactly
three messages of the searcher's chat ("zyzzyva").

SQLite: writes the rows and their search index entries (the words are
lower-case ASCII, which is what the server's folding makes of them).
PostgreSQL: prints SQL for psql instead (the tsvector from PostgreSQL's
'simple' configuration, the same lexemes and positions for such words).

usage: seed_search.py {sqlite DB | postgres} CHAT_ID SENDER_A SENDER_B COUNT
"""
import bisect
import random
import sys
import time

try:  # FTS5's contentless_delete needs SQLite 3.43: pip install pysqlite3-binary
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

target = sys.argv[1]
args = sys.argv[3:] if target == "sqlite" else sys.argv[2:]
db = sys.argv[2] if target == "sqlite" else None
chat_id, a, b, count = (int(x) for x in args)

rng = random.Random(7)
syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "pe", "zu", "da", "fo", "gi", "ha", "je"]
vocab = []
while len(vocab) < 5000:
    w = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
    if w not in vocab:
        vocab.append(w)
weights = [1.0 / (k + 1) for k in range(len(vocab))]
cumulative = []
total = 0.0
for w in weights:
    total += w
    cumulative.append(total)


def word():
    return vocab[bisect.bisect(cumulative, rng.random() * total)]


now_ms = int(time.time() * 1000) - count
RARE_AT = {count // 10 * k // 4 for k in (1, 2, 3)}


def messages():
    """(chat index 0-9, sender, text) for each message, oldest first."""
    for i in range(count):
        chat = 0 if i % 10 == 0 else i % 10
        words = [word() for _ in range(8)]
        if chat == 0 and i // 10 in RARE_AT:
            words[3] = "zyzzyva"
        yield chat, i, " ".join(words)


print(vocab[0], vocab[4000], file=sys.stderr)
if target == "postgres":
    print("BEGIN;")
    print(f"SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users));")
    print("CREATE TEMP TABLE seed (chat int, i int, text text);")
    print("COPY seed FROM STDIN;")
    for chat, i, text in messages():
        print(f"{chat}\t{i}\t{text}")
    print("\\.")
    print(f"""
INSERT INTO users (username, display_name, display_lower, password_hash, created_at)
SELECT 'seed' || n, 'seed' || n, 'seed' || n, 'x', {now_ms} FROM generate_series(1, 18) n;
CREATE TEMP TABLE seed_chats AS
SELECT n AS chat, CASE WHEN n = 0 THEN {chat_id} ELSE NULL END AS id,
       (SELECT id FROM users WHERE username = 'seed' || (2 * n - 1)) AS lo,
       (SELECT id FROM users WHERE username = 'seed' || (2 * n)) AS hi
FROM generate_series(0, 9) n;
WITH made AS (
  INSERT INTO chats (kind, created_by, created_at, direct_lo, direct_hi, last_activity_at)
  SELECT 'direct', lo, {now_ms}, lo, hi, {now_ms} FROM seed_chats WHERE chat > 0 ORDER BY chat
  RETURNING id, direct_lo)
UPDATE seed_chats s SET id = made.id FROM made WHERE made.direct_lo = s.lo;
INSERT INTO chat_members (chat_id, user_id, role, joined_at)
SELECT id, lo, 'member', {now_ms} FROM seed_chats WHERE chat > 0
UNION ALL SELECT id, hi, 'member', {now_ms} FROM seed_chats WHERE chat > 0;
INSERT INTO messages (chat_id, sender_id, kind, text, created_at, seq, search)
SELECT c.id, CASE WHEN s.chat = 0 THEN (CASE WHEN s.i % 20 = 0 THEN {a} ELSE {b} END)
                  ELSE (CASE WHEN s.i % 2 = 0 THEN c.lo ELSE c.hi END) END,
       'text', s.text, {now_ms} + s.i, 1 + s.i / 10, to_tsvector('simple', s.text)
FROM seed s JOIN seed_chats c ON c.chat = s.chat ORDER BY s.i;
UPDATE chats c SET last_message_id = m.id, last_seq = m.seq, last_activity_at = m.created_at
FROM (SELECT DISTINCT ON (chat_id) chat_id, id, seq, created_at FROM messages ORDER BY chat_id, id DESC) m
WHERE m.chat_id = c.id;
UPDATE chat_members cm SET last_read_message_id = c.last_message_id, last_read_seq = c.last_seq
FROM chats c WHERE c.id = cm.chat_id;
COMMIT;
ANALYZE;""")
    sys.exit(0)

conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
with conn:
    chats = [chat_id]
    for n in range(1, 10):
        ids = []
        for k in (2 * n - 1, 2 * n):
            cur = conn.execute(
                "INSERT INTO users (username, display_name, display_lower, password_hash, created_at)"
                " VALUES (?, ?, ?, 'x', ?)", (f"seed{k}", f"seed{k}", f"seed{k}", now_ms))
            ids.append(cur.lastrowid)
        cur = conn.execute(
            "INSERT INTO chats (kind, created_by, created_at, direct_lo, direct_hi, last_activity_at)"
            " VALUES ('direct', ?, ?, ?, ?, ?)", (ids[0], now_ms, ids[0], ids[1], now_ms))
        chats.append((cur.lastrowid, ids[0], ids[1]))
        for u in ids:
            conn.execute("INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)",
                         (cur.lastrowid, u, now_ms))
    seqs = [0] * 10
    insert = "INSERT INTO messages (chat_id, sender_id, kind, text, created_at, seq) VALUES (?, ?, 'text', ?, ?, ?)"
    for chat, i, text in messages():
        seqs[chat] += 1
        if chat == 0:
            cid, sender = chat_id, (a if i % 20 == 0 else b)
        else:
            cid, lo, hi = chats[chat]
            sender = lo if i % 2 == 0 else hi
        cur = conn.execute(insert, (cid, sender, text, now_ms + i, seqs[chat]))
        conn.execute("INSERT INTO message_search (rowid, body, name) VALUES (?, ?, '')", (cur.lastrowid, text))
    for n, chat in enumerate(chats):
        cid = chat if n == 0 else chat[0]
        newest = conn.execute("SELECT MAX(id) FROM messages WHERE chat_id = ?", (cid,)).fetchone()[0]
        conn.execute("UPDATE chats SET last_message_id = ?, last_seq = ? WHERE id = ?", (newest, seqs[n], cid))
        conn.execute("UPDATE chat_members SET last_read_message_id = ?, last_read_seq = ?, sent_since_read = 0"
                     " WHERE chat_id = ?", (newest, seqs[n], cid))
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
