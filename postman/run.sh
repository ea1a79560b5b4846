#!/usr/bin/env bash
# Runs the Postman collection with newman against the release binary on a
# fresh data dir. Usage: postman/run.sh [extra newman args]   (from anywhere;
# builds nothing, expects target/release/chat-server to exist)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$root/target/release/chat-server"
[ -x "$bin" ] || { echo "no server binary at $bin: build first with 'cargo build --release'" >&2; exit 1; }

data="$(mktemp -d)"
log="$data/server.log"
"$bin" serve --addr 127.0.0.1:0 --data-dir "$data" --log-format json --log warn,chat_server=info >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

addr=""
for _ in $(seq 1 100); do
  addr="$(grep '"message":"chat-server listening"' "$log" | grep -o '"addr":"[^"]*"' | head -n1 | cut -d'"' -f4 || true)"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start:" >&2; cat "$log" >&2; exit 1; }
echo "newman against http://$addr"

cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
npx --no-install newman run chat-server.postman_collection.json \
  -e local.postman_environment.json \
  --env-var "base_url=http://$addr" \
  --working-dir "$here" \
  --bail \
  "$@"
