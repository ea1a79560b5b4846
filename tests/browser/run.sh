#!/usr/bin/env bash
# Runs the browser test of the demo page (headless Chromium through
# playwright-core) against the release binary on fresh data dirs (two
# servers: the second with short-lived access tokens).
# Usage: tests/browser/run.sh   (from anywhere; builds nothing, expects
# target/release/chat-server, Node.js 20+ with npm, and Debian's chromium
# on PATH: apt-get install -y chromium). Screenshots: target/e2e-screenshots/
# CHAT_SKIP_CATCHUP=1 leaves out catchup.test.mjs (seq and replay on
# connect), for a server without them yet.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$chromium" ] || { echo "chromium is not on PATH: install it (apt-get install -y chromium) or set CHROMIUM" >&2; exit 1; }
export CHROMIUM="$chromium"

source "$root/tests/start-server.sh"
# Two servers: start_server's EXIT trap (stop_server) is made to stop every
# server started, the one it was starting included if that failed.
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
# Short heartbeats: when bob's browser goes offline its close frame may never
# leave, and the server must notice by the missing pong within the test's wait.
start_server --ping-interval 2s --ping-timeout 2s
servers+=("main|$pid|$data|$server_log|$database")
export CHAT_URL="$base_url"
# Access tokens that last 15 s: sessions.test.mjs watches the page refresh
# its token before it expires.
start_server --ping-interval 2s --ping-timeout 2s --token-ttl 15s
servers+=("short-ttl|$pid|$data|$server_log|$database")
export CHAT_URL_SHORT_TTL="$base_url"
echo "browser test against $CHAT_URL (and $CHAT_URL_SHORT_TTL with --token-ttl 15s) with $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1))"

mkdir -p "$root/target/e2e-screenshots"
rm -f "$root/target/e2e-screenshots/"*.png
cd "$root/tests/browser"
[ -d node_modules ] || npm ci --no-audit --no-fund
files=(demo.test.mjs uploads.test.mjs sessions.test.mjs messages.test.mjs groups.test.mjs)
if [ "${CHAT_SKIP_CATCHUP:-0}" = 1 ]; then echo "skipping catchup.test.mjs (CHAT_SKIP_CATCHUP=1)"; else files+=(catchup.test.mjs); fi
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
