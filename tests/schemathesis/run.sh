#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis:
# no 5xx, and every response conforms to /openapi.json (status codes,
# content types, headers, bodies). Fixed seed and a bounded number of
# examples, so a run is repeatable and takes about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release/chat-server"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
SCHEMATHESIS_VERSION=4.32.5

venv="$root/target/schemathesis-venv"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

data="$(mktemp -d)"
log="$data/server.log"
# Rate limits off: the fuzzer should reach the handlers, not the limiter.
"$bin" serve --addr 127.0.0.1:0 --data-dir "$data/db" --no-rate-limits --log-format json --log warn,chat_server=info >"$log" 2>&1 &
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
base="http://$addr"

token="$(curl -sf "$base/auth/register" -H 'content-type: application/json' \
  -d '{"username":"schemathesis","password":"correct horse"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')"

cd "$data"
"$venv/bin/st" run "$base/openapi.json" \
  -H "Authorization: Bearer $token" \
  --seed 20261125 --max-examples 50 \
  --phases examples,coverage,fuzzing \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --exclude-path-regex '^/(assets|docs)' \
  --generation-database none \
  --no-color
# The server must still be up and healthy after all of that.
curl -sf "$base/healthz" >/dev/null
echo "schemathesis: passed, server healthy"
