#!/usr/bin/env bash
# Runs the end-to-end suites against the release binary on a fresh data dir.
# Usage: tests/e2e/run.sh   (from anywhere; builds nothing, expects
# target/release/chat-server to exist)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release/chat-server"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }

data="$(mktemp -d)"
log="$data/server.log"
"$bin" serve --addr 127.0.0.1:0 --data-dir "$data" --log-format json --log warn,chat_server=info >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

addr=""
for _ in $(seq 1 100); do
  addr="$(grep -o '"addr":"[^"]*"' "$log" | head -n1 | cut -d'"' -f4 || true)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start:" >&2; cat "$log" >&2; exit 1; }
export CHAT_URL="http://$addr"
echo "e2e against $CHAT_URL"

cd "$root/tests/e2e"
[ -d node_modules ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=spec
