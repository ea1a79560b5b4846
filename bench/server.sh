# Sourced by the single-server benchmark scripts (search.sh, catchup.sh):
# one chat-server on CPU 0 over a fresh data dir (and, for `postgres`, a
# fresh database of its own, dropped at exit), started and stopped at will.
# Expects: root, store (sqlite|postgres), db_name; sets bin, loadgen, data,
# addr, server_pid, and the functions start, stop, json.
bin="$root/target/release/chat-server"
loadgen="$root/target/release/loadgen"
[ "${BUILD:-1}" = 0 ] || cargo build --release --workspace --quiet
data="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
addr="127.0.0.1:$port"
pg_base="${PG_BASE:-postgres://postgres@127.0.0.1:5432}"
env_db=()
if [ "$store" = postgres ]; then
  psql "$pg_base/postgres" -qc "CREATE DATABASE $db_name"
  env_db=(env "CHAT_DATABASE_URL=$pg_base/$db_name")
fi
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$data"
  [ "$store" != postgres ] || psql "$pg_base/postgres" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || true
}
trap cleanup EXIT

start() {
  "${env_db[@]}" taskset -c 0 "$bin" serve --addr "$addr" --data-dir "$data" "$@" >"$data/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 600); do
    curl -sf "http://$addr/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start" >&2 && cat "$data/server.log" >&2 && exit 1
}
stop() { kill "$server_pid" && wait "$server_pid" || true; server_pid=""; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
