#!/usr/bin/env bash
# Runs the end-to-end suite (the official socket.io-client, both transports)
# against the release binary on a fresh data dir.
# Usage: tests/e2e/run.sh   (from anywhere; expects target/release/chat-server)
# CHAT_SKIP_CATCHUP=1 leaves out the catch-up tests (catchup*.test.mjs: seq,
# GET /events, replay on connect), for a server without them yet.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/tests/start-server.sh"
# With the catch-up tests, two servers: the second keeps chat events for 3 s
# only (--event-retention), for the expired cursor (410 cursor_expired,
# sync_required). start_server's EXIT trap (stop_server) is made to stop
# every server started, the one it was starting included if that failed.
eval "$(declare -f stop_server | sed '1s/^stop_server/stop_one_server/')"
servers=() # "name|pid|data dir|log|database" of each server started
stop_server() {
  local status=$? entry name current="?|$pid|$data|$server_log|$database"
  set +e
  [[ " ${servers[*]} " == *"|$pid|"* ]] || servers+=("$current")
  for entry in "${servers[@]}"; do
    IFS='|' read -r name pid data server_log database <<<"$entry"
    [ "$status" -ne 0 ] && echo "--- server $name ---" >&2
    (exit "$status"); stop_one_server
  done
}
start_server
servers+=("main|$pid|$data|$server_log|$database")
export CHAT_URL="$base_url"
if [ "${CHAT_SKIP_CATCHUP:-0}" != 1 ]; then
  start_server --event-retention 3s
  servers+=("short-retention|$pid|$data|$server_log|$database")
  export CHAT_URL_SHORT_RETENTION="$base_url"
  echo "e2e against $CHAT_URL (and $CHAT_URL_SHORT_RETENTION with --event-retention 3s)"
else
  echo "e2e against $CHAT_URL"
fi

cd "$root/tests/e2e"
[ -d node_modules ] || npm ci --no-audit --no-fund
files=()
for f in *.test.mjs; do
  if [ "${CHAT_SKIP_CATCHUP:-0}" = 1 ] && [[ "$f" == catchup* ]]; then echo "skipping $f (CHAT_SKIP_CATCHUP=1)"; continue; fi
  files+=("$f")
done
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
