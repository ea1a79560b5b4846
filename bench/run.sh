#!/usr/bin/env bash
# Benchmarks chat-server against the Node.js reference (../shared/node-reference)
# with one load generator, in one run, alternating A/B, server pinned to CPU 0
# and generator to CPU 1. Results: target/bench/results.jsonl; tables and the
# chart are written into docs/BENCHMARKS.md and docs/bench-direct.svg.
#
# Server variants (SERVERS):
#   rust        chat-server with its default flags, except the limits the load
#               itself would trip: --no-rate-limits --max-sockets-per-user
#               100000 --max-connections 30000
#   rust-tuned  the same plus --log warn (the setting of benchmarks before
#               2026-12-03); runs only the scenarios in TUNED_SCENARIOS
#   rust-before another build (BEFORE_BIN) with rust's flags, for an A/B of two
#               builds; runs only the scenarios in BEFORE_SCENARIOS
#   rust-pg     the same flags as rust plus --database-url: a fresh PostgreSQL
#               database (on PG_URL) for each server start, dropped after it
#               stops; runs only the scenarios in PG_SCENARIOS; not in the
#               default list. PostgreSQL itself is not pinned.
#   node        the Node.js reference with its default flags
# Scenario pgbench (in the default list when SERVERS has rust-pg): once per
# round, pgbench -N with 4 clients on a scratch database, for context.
# Accounts are created at each server's default password-hash cost; the login
# scenario gives both servers the same cost (REAL_HASH).
#
# usage: bench/run.sh                 (everything, ~70 minutes on 2 cores)
#        ROUNDS=1 SECONDS_PER_RATE=3 bench/run.sh     (a quicker look)
#        SERVERS=rust bench/run.sh    (one server only)
#        SCENARIOS=soak bench/run.sh  (4 minutes of steady direct load per variant)
#        BUILD=0 bench/run.sh         (use target/release as it is)
#        SCENARIOS=soak APPEND=1 bench/run.sh  (a soak added to the last run's page)
#        SERVERS="rust rust-pg" bench/run.sh  (SQLite against PostgreSQL)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# What the caller set, for the report's "Command:" line.
given=()
for v in SERVERS DIRECT_RATES FANOUT_RATES IDLE_SIZES HISTORY_MESSAGES SCENARIOS TUNED_SCENARIOS \
  PG_SCENARIOS PG_URL AFTER_SECONDS SOAK_SECONDS SOAK_RATE NODE_FLAGS BEFORE_SCENARIOS BEFORE_BIN; do
  if [ -n "${!v+x}" ]; then
    case ${!v} in
      *' '*) given+=("$v=\"${!v}\"") ;;
      *) given+=("$v=${!v}") ;;
    esac
  fi
done
ROUNDS="${ROUNDS:-3}"
SERVERS="${SERVERS:-rust rust-tuned node}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-5}"
DIRECT_RATES="${DIRECT_RATES:-1000,2500,5000,7500,10000,15000,17500,20000,25000,30000}"
FANOUT_RATES="${FANOUT_RATES:-100,300,1000,1500}"
IDLE_SIZES="${IDLE_SIZES:-10000 19000}"
HISTORY_MESSAGES="${HISTORY_MESSAGES:-1000000}"
# soak (not in the default list): one steady direct rate for SOAK_SECONDS.
# refresh (not in the default list): 16 clients each spending its own chain
# of refresh tokens for 10 s (chat-server variants only).
# pgbench: once per round, PostgreSQL's own pgbench -N (4 clients, 10 s) on a
# scratch database; in the default list when SERVERS has rust-pg.
if [[ " $SERVERS " == *" rust-pg "* ]]; then
  SCENARIOS="${SCENARIOS:-startup idle direct fanout history login pgbench}"
else
  SCENARIOS="${SCENARIOS:-startup idle direct fanout history login}"
fi
# The scenarios rust-tuned runs (those of SCENARIOS that are in this list).
TUNED_SCENARIOS="${TUNED_SCENARIOS:-direct fanout soak}"
# The scenarios rust-pg runs (those of SCENARIOS that are in this list).
PG_SCENARIOS="${PG_SCENARIOS:-direct fanout history}"
# rust-before: another build of chat-server (BEFORE_BIN, e.g. one from before
# a change), default flags, for an A/B of two builds in one run; it runs the
# scenarios in BEFORE_SCENARIOS.
BEFORE_SCENARIOS="${BEFORE_SCENARIOS:-direct fanout history}"
BEFORE_BIN="${BEFORE_BIN:-}"
# The PostgreSQL server for rust-pg and pgbench, without a database name
# (trust auth on loopback); each server start gets a database bench_<pid>_<n>.
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
# Seconds idle (sockets connected) after direct, fanout and soak load before
# the server's RSS and WAL size are read again: the server trims freed memory
# every 10 s and its hash threads free theirs after 10 s idle.
AFTER_SECONDS="${AFTER_SECONDS:-25}"
SOAK_SECONDS="${SOAK_SECONDS:-240}"
SOAK_RATE="${SOAK_RATE:-3000}"
# Extra flags for the Node reference. By default it hashes at chat-server's
# default cost (19 MiB, t=2, p=1), so both do the same work per account and
# per login; its own default (64 MiB, t=3, p=4) makes account setup take
# about 4 minutes per 1000 accounts (NODE_FLAGS= for that: ~25 minutes more).
NODE_FLAGS="${NODE_FLAGS---argon2-memory-kib 19456 --argon2-time-cost 2 --argon2-parallelism 1}"
BUILD="${BUILD:-1}"
# APPEND=1: add to target/bench/results.jsonl instead of starting it over, so
# e.g. a soak after a full run lands on the same page.
APPEND="${APPEND:-0}"
for s in $SERVERS; do
  case $s in rust | rust-tuned | rust-pg | rust-before | node) ;; *) echo "unknown server variant: $s (rust, rust-tuned, rust-pg, rust-before, node)" >&2 && exit 1 ;; esac
  if [ "$s" = rust-before ] && [ ! -x "${BEFORE_BIN:-}" ]; then echo "rust-before needs BEFORE_BIN, the other build's binary" >&2 && exit 1; fi
done
for s in $SCENARIOS; do
  case $s in startup | idle | direct | fanout | history | login | refresh | soak | pgbench) ;; *) echo "unknown scenario: $s" >&2 && exit 1 ;; esac
done
out="$root/target/bench"
results="$out/results.jsonl"
mkdir -p "$out"

# Every server flag has an environment variable (chat-server: CHAT_*; the
# Node reference: these): none may leak in from the caller's shell.
for v in $(compgen -e); do
  case $v in
    CHAT_* | DATA_DIR | JWT_SECRET | MAX_UPLOAD_BYTES | TOKEN_TTL_SECS | FILE_URL_TTL_SECS | ARGON2_* | HOST | PORT) unset "$v" ;;
  esac
done

if [ "$BUILD" != 0 ]; then
  echo "== building"
  cargo build --release --workspace --quiet
fi
for bin in loadgen chat-server; do
  if [ "$bin" = chat-server ] && [[ " $SERVERS " != *" rust"* ]]; then continue; fi
  if [ ! -x "$root/target/release/$bin" ]; then
    echo "target/release/$bin is missing: build it (cargo build --release --workspace) or run without BUILD=0" >&2
    exit 1
  fi
done
if [[ " $SERVERS " == *" node "* ]] && [ ! -d "$out/node-reference/node_modules" ]; then
  echo "== installing the Node reference (better-sqlite3 compiles: about 2 minutes)"
  rm -rf "$out/node-reference"
  cp -r "$root/../shared/node-reference" "$out/node-reference"
  (cd "$out/node-reference" && npm ci --no-audit --no-fund --loglevel=error)
fi
pg_up() { psql "$PG_URL/postgres" -X -qtAc 'SELECT 1' >/dev/null 2>&1; }
if [[ " $SERVERS " == *" rust-pg "* ]] && ! pg_up; then
  echo "rust-pg: PostgreSQL is not reachable at $PG_URL (psql \"$PG_URL/postgres\" failed)" >&2
  exit 1
fi
pgbench_bin=""
if [[ " $SCENARIOS " == *" pgbench "* ]]; then
  pgbench_bin="$(command -v pgbench || true)"
  for p in /usr/lib/postgresql/*/bin/pgbench; do
    if [ -z "$pgbench_bin" ] && [ -x "$p" ]; then pgbench_bin=$p; fi
  done
  if [ -z "$pgbench_bin" ]; then
    echo "== pgbench is not installed (Debian: postgresql-contrib or postgresql-client): skipping the pgbench scenario"
  elif ! pg_up; then
    echo "== PostgreSQL is not reachable at $PG_URL: skipping the pgbench scenario"
    pgbench_bin=""
  fi
fi
ulimit -n "$(ulimit -Hn)"

loadgen() { taskset -c 1 "$root/target/release/loadgen" "$@"; }
# Account setup uses each server's default hash cost. The login scenario
# measures hashing at one cost for both: chat-server's default (Node's own
# default is 65536 KiB, t=3, p=4).
REAL_HASH=(--argon2-memory-kib 19456 --argon2-time-cost 2 --argon2-parallelism 1)

server_cmd() { # server data port [extra flags...]
  local server=$1 data=$2 port=$3
  shift 3
  case $server in
    rust | rust-tuned | rust-pg | rust-before)
      # Defaults but for the limits this load would trip; tuned: quieter
      # logs; pg: the database that new_db made (blobs and the JWT secret
      # still go to the data dir); before: another build (BEFORE_BIN).
      local flags=(--no-rate-limits --max-sockets-per-user 100000 --max-connections 30000)
      local bin="$root/target/release/chat-server"
      if [ "$server" = rust-tuned ]; then flags+=(--log warn); fi
      if [ "$server" = rust-pg ]; then flags+=(--database-url "$PG_URL/$db"); fi
      if [ "$server" = rust-before ]; then bin="$BEFORE_BIN"; fi
      echo taskset -c 0 "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" \
        "${flags[@]}" "$@"
      ;;
    node)
      # shellcheck disable=SC2086
      echo taskset -c 0 node "$out/node-reference/server.js" --addr "127.0.0.1:$port" --data-dir "$data" $NODE_FLAGS "$@"
      ;;
    *)
      echo "unknown server variant: $server (rust, rust-tuned, rust-pg, node)" >&2
      exit 1
      ;;
  esac
}
# On SQLite both servers keep their database in <data dir>/chat.db, in WAL
# mode: the generator watches the WAL's size. rust-pg has no such file (its
# WAL is the PostgreSQL cluster's, shared): nothing watched.
watch_args() { # server data
  if [ "$1" != rust-pg ]; then echo --watch-file "$2/chat.db-wal"; fi
}

# rust-pg: a fresh database per server start, dropped after the server stops.
db="" db_count=0
psql_admin() { psql "$PG_URL/postgres" -X -q -v ON_ERROR_STOP=1 "$@"; }
new_db() {
  db_count=$((db_count + 1))
  db="bench_$$_$db_count"
  psql_admin -c "CREATE DATABASE $db"
}
drop_db() {
  [ -n "$db" ] || return 0
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || echo "could not drop database $db" >&2
  db=""
}

pid=""
start() { # server port [extra flags...]
  local server=$1 port=$2
  shift 2
  data="$(mktemp -d "$out/data.XXXXXX")"
  if [ "$server" = rust-pg ]; then new_db; fi
  # shellcheck disable=SC2046
  $(server_cmd "$server" "$data" "$port" "$@") >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server $server did not start:" >&2
  cat "$data.log" >&2
  exit 1
}
stop() { # [keep]: leave rust-pg's database for the next start on it
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
  if [ "${1:-}" != keep ]; then drop_db; fi
}
pgbench_db=""
cleanup() {
  stop
  if [ -n "$pgbench_db" ]; then psql_admin -c "DROP DATABASE IF EXISTS $pgbench_db WITH (FORCE)" || true; fi
  rm -rf "$out"/data.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

json_field() { python3 -c "import sys,json; v=json.load(sys.stdin); print($1)"; }

# The scenarios a variant runs: rust-tuned only those also in
# TUNED_SCENARIOS, rust-pg those in PG_SCENARIOS; pgbench is not a server's.
scenarios_for() { # server
  local s
  for s in $SCENARIOS; do
    [ "$s" != pgbench ] || continue
    # refresh tokens are v2 sessions: chat-server's own
    [ "$s" != refresh ] || [ "$1" != node ] || continue
    case $1 in
      rust-tuned) [[ " $TUNED_SCENARIOS " == *" $s "* ]] || continue ;;
      rust-pg) [[ " $PG_SCENARIOS " == *" $s "* ]] || continue ;;
      rust-before) [[ " $BEFORE_SCENARIOS " == *" $s "* ]] || continue ;;
    esac
    printf '%s ' "$s"
  done
}

# pgbench -N (simple update: no contention on the branches table) with 4
# clients on one thread for 10 s, on a scratch scale-10 database: what this
# PostgreSQL does on this machine, for context. pgbench runs on CPU 1 (the
# generator's), PostgreSQL where the OS puts it.
run_pgbench() { # round
  [ -n "$pgbench_bin" ] || return 0
  echo "== round $1: pgbench"
  pgbench_db="bench_$$_pgbench"
  psql_admin -c "CREATE DATABASE $pgbench_db"
  local log="$out/pgbench.log" tps latency
  if taskset -c 1 "$pgbench_bin" -i -s 10 -q "$PG_URL/$pgbench_db" >"$log" 2>&1 &&
    taskset -c 1 "$pgbench_bin" -c 4 -j 1 -T 10 -N "$PG_URL/$pgbench_db" >>"$log" 2>&1; then
    # "tps = 1234.5 (without initial connection time)"; before PostgreSQL 14:
    # "(excluding connections establishing)", after an "including" line.
    tps="$(sed -n 's/^tps = \([0-9.]*\) (\(without initial connection time\|excluding connections establishing\))$/\1/p' "$log" | tail -n1)"
    latency="$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$log" | tail -n1)"
    if [ -n "$tps" ]; then
      printf '{"scenario":"pgbench","tps":%s,"latency_avg_ms":%s,"clients":4,"threads":1,"scale":10,"seconds":10,"mode":"simple-update","round":"%s"}\n' \
        "$tps" "${latency:-null}" "$1" >>"$results"
    else
      echo "pgbench printed no tps line:" >&2 && cat "$log" >&2
    fi
  else
    echo "pgbench failed (the run goes on):" >&2 && cat "$log" >&2
  fi
  psql_admin -c "DROP DATABASE IF EXISTS $pgbench_db WITH (FORCE)"
  pgbench_db=""
}

run_scenarios() { # server round
  local server=$1 round=$2 port=4100
  local tags=(--tag "server=$server" --tag "round=$round")
  local after=(--after-seconds "$AFTER_SECONDS")
  for scenario in $(scenarios_for "$server"); do
    echo "== round $round, $server: $scenario"
    case $scenario in
      startup)
        data="$(mktemp -d "$out/data.XXXXXX")"
        if [ "$server" = rust-pg ]; then new_db; fi
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" startup --addr "127.0.0.1:$port" -- $(server_cmd "$server" "$data" "$port") >>"$results"
        drop_db
        ;;
      idle)
        for n in $IDLE_SIZES; do
          start "$server" "$port"
          loadgen "${tags[@]}" idle --addr "127.0.0.1:$port" --sockets "$n" --users 100 --server-pid "$pid" >>"$results"
          stop
        done
        ;;
      direct)
        start "$server" "$port"
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 500 --rates "$DIRECT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" "${after[@]}" $(watch_args "$server" "$data") >>"$results"
        stop
        ;;
      fanout)
        start "$server" "$port"
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" fanout --addr "127.0.0.1:$port" --members 1000 --rates "$FANOUT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" "${after[@]}" $(watch_args "$server" "$data") >>"$results"
        stop
        ;;
      soak)
        start "$server" "$port"
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" direct --name soak --addr "127.0.0.1:$port" --pairs 500 --rates "$SOAK_RATE" \
          --seconds "$SOAK_SECONDS" --server-pid "$pid" "${after[@]}" $(watch_args "$server" "$data") >>"$results"
        stop
        ;;
      history)
        start "$server" "$port"
        local base="http://127.0.0.1:$port" a b
        a="$(curl -sf "$base/auth/register" -H 'content-type: application/json' \
          -d '{"username":"historya","password":"benchmark password"}')"
        b="$(curl -sf "$base/auth/register" -H 'content-type: application/json' \
          -d '{"username":"historyb","password":"benchmark password"}')"
        local token a_id b_id chat
        token="$(echo "$a" | json_field 'v["token"]')"
        a_id="$(echo "$a" | json_field 'v["user"]["id"]')"
        b_id="$(echo "$b" | json_field 'v["user"]["id"]')"
        chat="$(curl -sf "$base/chats/send-message" -H 'content-type: application/json' -H "authorization: Bearer $token" \
          -d "{\"to\":$b_id,\"text\":\"first\"}" | json_field 'v["message"]["chat_id"]')"
        local data_dir=$data
        stop keep
        local newest
        if [ "$server" = rust-pg ]; then
          newest="$(psql "$PG_URL/$db" -X -qtA -v ON_ERROR_STOP=1 -v chat="$chat" -v a="$a_id" -v b="$b_id" \
            -v count="$HISTORY_MESSAGES" -f "$root/bench/seed_history_pg.sql")"
        else
          # The schema is chat-server's for every rust variant, else Node's.
          local schema=node
          case $server in rust*) schema=rust ;; esac
          newest="$(python3 "$root/bench/seed_history.py" "$data_dir/chat.db" "$schema" "$chat" "$a_id" "$b_id" "$HISTORY_MESSAGES")"
        fi
        # Restart on the seeded data (same secret, so the token still works).
        # shellcheck disable=SC2046
        $(server_cmd "$server" "$data_dir" "$port") >>"$data_dir.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
        loadgen "${tags[@]}" history --addr "127.0.0.1:$port" --chat-id "$chat" --token "$token" \
          --max-id "$newest" --clients 64 --seconds 10 --server-pid "$pid" >>"$results"
        stop
        ;;
      refresh)
        start "$server" "$port"
        loadgen "${tags[@]}" refresh --addr "127.0.0.1:$port" --clients 16 --seconds 10 \
          --server-pid "$pid" >>"$results"
        stop
        ;;
      login)
        start "$server" "$port" "${REAL_HASH[@]}"
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 100 --rates 2000 --seconds 10 \
          --login-clients 4 --server-pid "$pid" $(watch_args "$server" "$data") >>"$results"
        stop
        ;;
      *)
        echo "unknown scenario: $scenario" >&2
        exit 1
        ;;
    esac
    rm -rf "$out"/data.*
  done
}

if [ "$APPEND" != 1 ]; then : >"$results"; fi
run_started=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
  # Alternate which server goes first, so drift over the run hits both.
  order="$SERVERS"
  if [ $((round % 2)) -eq 0 ]; then order="$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
  for server in $order; do
    run_scenarios "$server" "$round"
  done
  if [[ " $SCENARIOS " == *" pgbench "* ]]; then run_pgbench "$round"; fi
done

echo "== report"
"$root/target/release/loadgen" report "$results" --markdown "$out/tables.md" --svg "$root/docs/bench-direct.svg"
{
  echo "- Date: $(date -u +%Y-%m-%d)"
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores"
  echo "- RAM: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  echo "- Kernel: $(uname -r); Rust: $(rustc --version | cut -d' ' -f2); Node: $(node --version 2>/dev/null || echo none)"
  if [[ " $SERVERS " == *" rust-pg "* ]] || [ -n "$pgbench_bin" ]; then
    echo "- PostgreSQL: $(psql "$PG_URL/postgres" -X -qtAc 'SHOW server_version' 2>/dev/null || echo unknown) on this machine, not pinned (it shares the $(nproc) cores with the server on CPU 0 and the generator on CPU 1)"
  fi
  echo "- Command: \`ROUNDS=$ROUNDS SECONDS_PER_RATE=$SECONDS_PER_RATE ${given[*]:+${given[*]} }bench/run.sh\`$([ "$APPEND" = 1 ] && echo ', added to the results of the runs before it')"
  echo "- Build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' plus uncommitted changes')"
  echo "- Run time: $((($(date +%s) - run_started) / 60)) min"
} >"$out/machine.md"
python3 "$root/bench/compose.py" "$root/bench/BENCHMARKS.template.md" "$out/machine.md" "$out/tables.md" >"$root/docs/BENCHMARKS.md"
echo "wrote docs/BENCHMARKS.md and docs/bench-direct.svg"
