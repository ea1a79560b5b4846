#!/usr/bin/env bash
# Search, edits and reactions (v2) on a big database: MESSAGES (default
# 1,000,000) seeded by seed_search.py into a stopped server's store, then
# the server started as users run it (default flags, log level info) and
# loadgen's `changes` scenario: search for a common word, a rare word, a
# word in three messages, a prefix and a phrase (16 clients, closed loop),
# then edits and reactions per second (16 accounts; --no-rate-limits for
# those, the per-user send limit would measure itself).
#
# usage: bench/search.sh [sqlite|postgres]   (BUILD=0 to skip the build)
# prints JSON lines; RESULTS=file to keep them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
store="${1:-sqlite}"
MESSAGES="${MESSAGES:-1000000}"
SECONDS_EACH="${SECONDS_EACH:-10}"
RESULTS="${RESULTS:-/dev/stdout}"
db_name="chat_search_bench_$$"
# shellcheck source=bench/server.sh
source "$root/bench/server.sh"

start
a="$(curl -sf "http://$addr/auth/register" -H 'content-type: application/json' \
  -d '{"username":"searcher","password":"benchmark password"}')"
b="$(curl -sf "http://$addr/auth/register" -H 'content-type: application/json' \
  -d '{"username":"peer","password":"benchmark password"}')"
token="$(echo "$a" | json "['token']")"
a_id="$(echo "$a" | json "['user']['id']")"
b_id="$(echo "$b" | json "['user']['id']")"
chat="$(curl -sf "http://$addr/chats/send-message" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d "{\"to\":$b_id,\"text\":\"hello\"}" | json "['message']['chat_id']")"
stop

seeded=$(date +%s)
if [ "$store" = postgres ]; then
  words="$(python3 "$root/bench/seed_search.py" postgres "$chat" "$a_id" "$b_id" "$MESSAGES" 2>&1 >"$data/seed.sql")"
  psql "$pg_base/$db_name" -q -v ON_ERROR_STOP=1 -f "$data/seed.sql" >/dev/null
else
  words="$(python3 "$root/bench/seed_search.py" sqlite "$data/chat.db" "$chat" "$a_id" "$b_id" "$MESSAGES" 2>&1)"
fi
echo "seeded $MESSAGES messages in $(( $(date +%s) - seeded )) s; common and rare words: $words" >&2
common="${words% *}"
rare="${words#* }"

tags=(--tag "store=$store" --tag "messages=$MESSAGES")
start
for q in "common word:$common" "rare word:$rare" "three messages:zyzzyva" "prefix:${common:0:3}" \
  "two words:$common $rare" "phrase:\"$common $common\""; do
  label="${q%%:*}"
  query="${q#*:}"
  "$loadgen" "${tags[@]}" changes --addr "$addr" --kind search --query "$query" --token "$token" \
    --label "$label" --clients 16 --seconds "$SECONDS_EACH" --server-pid "$server_pid" >>"$RESULTS"
done
stop
start --no-rate-limits
for kind in edit react; do
  "$loadgen" "${tags[@]}" changes --addr "$addr" --kind "$kind" --clients 16 --own 50 \
    --seconds "$SECONDS_EACH" --server-pid "$server_pid" >>"$RESULTS"
done
if [ "$store" = sqlite ]; then
  echo "database: $(du -b "$data/chat.db" | cut -f1) bytes" >&2
fi
stop
