#!/usr/bin/env bash
# Catch-up (v2): the event log's size per million messages on disk, events
# replayed per second on connect, and /events pages per second.
#
# 1. The server with --no-rate-limits: 16 accounts send SIZE_MESSAGES
#    messages in all (loadgen changes --own, one event each), then alice
#    sends REPLAY_EVENTS messages to bob; the server stops and the log's
#    share of the store is read (SQLite: dbstat; PostgreSQL:
#    pg_total_relation_size of the log's tables), per million messages.
# 2. The server as users run it (default flags, log level info) on CPU 0:
#    `loadgen catchup --kind replay` (8 of bob's sockets at once, each
#    connecting with since = bob's seq before alice's messages, reading to
#    caught_up, closing, again) and `--kind pages` (16 clients paging
#    /events?since=…&limit=500).
#
# usage: bench/catchup.sh [sqlite|postgres]   (BUILD=0 to skip the build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
store="${1:-sqlite}"
SIZE_MESSAGES="${SIZE_MESSAGES:-200000}"
REPLAY_EVENTS="${REPLAY_EVENTS:-1000}"
SECONDS_EACH="${SECONDS_EACH:-10}"
RESULTS="${RESULTS:-/dev/stdout}"
db_name="chat_catchup_bench_$$"
# shellcheck source=bench/server.sh
source "$root/bench/server.sh"
register() {
  curl -sf "http://$addr/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"benchmark password\"}"
}

start --no-rate-limits
per_client=$((SIZE_MESSAGES / 16))
taskset -c 1 "$loadgen" changes --addr "$addr" --kind edit --clients 16 --own "$per_client" --seconds 1 >/dev/null
a="$(register alice)"; b="$(register bob)"
alice="$(echo "$a" | json "['token']")"
bob="$(echo "$b" | json "['token']")"
bob_id="$(echo "$b" | json "['user']['id']")"
since="$(curl -sf "http://$addr/events?limit=1" -H "authorization: Bearer $bob" | json "['latest_seq']")"
python3 - "$addr" "$alice" "$bob_id" "$REPLAY_EVENTS" <<'PY'
import http.client, json, sys
addr, token, to, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host, port = addr.split(":")
c = http.client.HTTPConnection(host, int(port))
for i in range(n):
    body = json.dumps({"to": to, "text": f"missed message {i} with a few words in it"})
    c.request("POST", "/chats/send-message", body, {"authorization": f"Bearer {token}", "content-type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
stop

if [ "$store" = sqlite ]; then
  python3 - "$data/chat.db" "$SIZE_MESSAGES" "$REPLAY_EVENTS" <<'PY' >>"$RESULTS"
import json, sqlite3, sys
db, size, replay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
pages = dict(c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
log = sum(pages.get(t, 0) for t in ("events", "events_by_chat", "event_recipients", "member_spans"))
events = c.execute("SELECT COUNT(*) FROM events").fetchone()[0]
messages = c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
total = sum(pages.values())
print(json.dumps({"scenario": "event-log-size", "store": "sqlite", "messages": messages, "events": events,
  "log_bytes": log, "store_bytes": total, "log_mib_per_million_messages": round(log / messages * 1e6 / 2**20, 1),
  "store_mib_per_million_messages": round(total / messages * 1e6 / 2**20, 1)}))
PY
else
  psql "$pg_base/$db_name" -qAt -c "SELECT json_build_object('scenario','event-log-size','store','postgres',
      'messages',(SELECT count(*) FROM messages),'events',(SELECT count(*) FROM events),
      'log_bytes', pg_total_relation_size('events')+pg_total_relation_size('event_recipients')+pg_total_relation_size('member_spans'),
      'store_bytes', pg_database_size(current_database()),
      'log_mib_per_million_messages', round(((pg_total_relation_size('events')+pg_total_relation_size('event_recipients')
          +pg_total_relation_size('member_spans'))::numeric / (SELECT count(*) FROM messages) * 1e6 / 1048576), 1),
      'store_mib_per_million_messages', round((pg_database_size(current_database())::numeric
          / (SELECT count(*) FROM messages) * 1e6 / 1048576), 1))" >>"$RESULTS"
fi

start
for kind in replay pages; do
  clients=16; [ "$kind" = replay ] && clients=8
  taskset -c 1 "$loadgen" --tag store="$store" catchup --addr "$addr" --kind "$kind" --token "$bob" \
    --since "$since" --clients "$clients" --seconds "$SECONDS_EACH" --server-pid "$server_pid" >>"$RESULTS"
done
stop
