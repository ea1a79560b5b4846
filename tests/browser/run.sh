#!/usr/bin/env bash
# Runs the browser test of the demo page (headless Chromium through
# playwright-core) against the release binary on a fresh data dir.
# Usage: tests/browser/run.sh   (from anywhere; builds nothing, expects
# target/release/chat-server, Node.js 20+ with npm, and Debian's chromium
# on PATH: apt-get install -y chromium). Screenshots: target/e2e-screenshots/
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release/chat-server"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$chromium" ] || { echo "chromium is not on PATH: install it (apt-get install -y chromium) or set CHROMIUM" >&2; exit 1; }
export CHROMIUM="$chromium"

data="$(mktemp -d)"
log="$data/server.log"
"$bin" serve --addr 127.0.0.1:0 --data-dir "$data" --log-format json --log warn,chat_server=info >"$log" 2>&1 &
pid=$!
cleanup() {
  status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -s "$log" ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$log" >&2
  fi
  rm -rf "$data"
}
trap cleanup EXIT

addr=""
for _ in $(seq 1 100); do
  addr="$(grep -F '"message":"chat-server listening"' "$log" | head -n1 | grep -o '"addr":"[^"]*"' | cut -d'"' -f4 || true)"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start:" >&2; cat "$log" >&2; exit 1; }
export CHAT_URL="http://$addr"
echo "browser test against $CHAT_URL with $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1))"

mkdir -p "$root/target/e2e-screenshots"
rm -f "$root/target/e2e-screenshots/"*.png
cd "$root/tests/browser"
[ -d node_modules ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=spec demo.test.mjs
