# Sourced by the end-to-end runners (tests/e2e, tests/browser,
# tests/python, tests/schemathesis, postman): starts the release binary on
# a fresh data dir on a free port and stops it on exit, printing its log if
# the runner failed. With CHAT_TEST_DATABASE_URL set (a PostgreSQL server),
# the server gets a fresh database on it, dropped on exit.
#
#   source "$root/tests/start-server.sh"
#   start_server [extra `serve` flags...]    # sets $addr, $base_url, $pid, $data

start_server() {
  local bin="${CHAT_SERVER_BIN:-$root/target/release/chat-server}"
  [ -x "$bin" ] || { echo "no server binary at $bin: build first with 'cargo build --release'" >&2; exit 1; }
  data="$(mktemp -d)"
  server_log="$data/server.log"
  database=""
  if [ -n "${CHAT_TEST_DATABASE_URL:-}" ]; then
    database="chat_e2e_$$_$RANDOM"
    psql "$CHAT_TEST_DATABASE_URL" -qc "CREATE DATABASE $database" >/dev/null
    export CHAT_DATABASE_URL="${CHAT_TEST_DATABASE_URL%/*}/$database"
    echo "store: PostgreSQL database $database"
  fi
  "$bin" serve --addr 127.0.0.1:0 --data-dir "$data/db" --log-format json --log warn,chat_server=info "$@" \
    >"$server_log" 2>&1 &
  pid=$!
  trap stop_server EXIT
  addr=""
  for _ in $(seq 1 100); do
    addr="$(grep -F '"message":"chat-server listening"' "$server_log" | head -n1 | grep -o '"addr":"[^"]*"' | cut -d'"' -f4 || true)"
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "server did not start:" >&2; cat "$server_log" >&2; exit 1; }
  base_url="http://$addr"
}

stop_server() {
  local status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -s "$server_log" ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$server_log" >&2
  fi
  if [ -n "$database" ]; then
    psql "$CHAT_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$data"
}
