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
#   node        the Node.js reference with its default flags
# Accounts are created at each server's default password-hash cost; the login
# scenario gives both servers the same cost (REAL_HASH).
#
# usage: bench/run.sh                 (everything, ~70 minutes on 2 cores)
#        ROUNDS=1 SECONDS_PER_RATE=3 bench/run.sh     (a quicker look)
#        SERVERS=rust bench/run.sh    (one server only)
#        SCENARIOS=soak bench/run.sh  (4 minutes of steady direct load per variant)
#        BUILD=0 bench/run.sh         (use target/release as it is)
#        SCENARIOS=soak APPEND=1 bench/run.sh  (a soak added to the last run's page)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# What the caller set, for the report's "Command:" line.
given=()
for v in SERVERS DIRECT_RATES FANOUT_RATES IDLE_SIZES HISTORY_MESSAGES SCENARIOS TUNED_SCENARIOS \
  AFTER_SECONDS SOAK_SECONDS SOAK_RATE NODE_FLAGS; do
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
SCENARIOS="${SCENARIOS:-startup idle direct fanout history login}"
# The scenarios rust-tuned runs (those of SCENARIOS that are in this list).
TUNED_SCENARIOS="${TUNED_SCENARIOS:-direct fanout soak}"
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
  case $s in rust | rust-tuned | node) ;; *) echo "unknown server variant: $s (rust, rust-tuned, node)" >&2 && exit 1 ;; esac
done
for s in $SCENARIOS; do
  case $s in startup | idle | direct | fanout | history | login | soak) ;; *) echo "unknown scenario: $s" >&2 && exit 1 ;; esac
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
    rust | rust-tuned)
      # Defaults but for the limits this load would trip; tuned: quieter logs.
      local flags=(--no-rate-limits --max-sockets-per-user 100000 --max-connections 30000)
      if [ "$server" = rust-tuned ]; then flags+=(--log warn); fi
      echo taskset -c 0 "$root/target/release/chat-server" serve --addr "127.0.0.1:$port" --data-dir "$data" \
        "${flags[@]}" "$@"
      ;;
    node)
      # shellcheck disable=SC2086
      echo taskset -c 0 node "$out/node-reference/server.js" --addr "127.0.0.1:$port" --data-dir "$data" $NODE_FLAGS "$@"
      ;;
    *)
      echo "unknown server variant: $server (rust, rust-tuned, node)" >&2
      exit 1
      ;;
  esac
}
# Both servers keep their SQLite database in <data dir>/chat.db, in WAL mode.
wal() { echo "$1/chat.db-wal"; }

pid=""
start() { # server port [extra flags...]
  local server=$1 port=$2
  shift 2
  data="$(mktemp -d "$out/data.XXXXXX")"
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
stop() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
cleanup() { stop; rm -rf "$out"/data.*; }
trap cleanup EXIT

json_field() { python3 -c "import sys,json; v=json.load(sys.stdin); print($1)"; }

# The scenarios a variant runs: rust-tuned only those also in TUNED_SCENARIOS.
scenarios_for() { # server
  local s
  for s in $SCENARIOS; do
    if [ "$1" != rust-tuned ] || [[ " $TUNED_SCENARIOS " == *" $s "* ]]; then
      printf '%s ' "$s"
    fi
  done
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
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" startup --addr "127.0.0.1:$port" -- $(server_cmd "$server" "$data" "$port") >>"$results"
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
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 500 --rates "$DIRECT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" "${after[@]}" --watch-file "$(wal "$data")" >>"$results"
        stop
        ;;
      fanout)
        start "$server" "$port"
        loadgen "${tags[@]}" fanout --addr "127.0.0.1:$port" --members 1000 --rates "$FANOUT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" "${after[@]}" --watch-file "$(wal "$data")" >>"$results"
        stop
        ;;
      soak)
        start "$server" "$port"
        loadgen "${tags[@]}" direct --name soak --addr "127.0.0.1:$port" --pairs 500 --rates "$SOAK_RATE" \
          --seconds "$SOAK_SECONDS" --server-pid "$pid" "${after[@]}" --watch-file "$(wal "$data")" >>"$results"
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
        stop
        local newest
        newest="$(python3 "$root/bench/seed_history.py" "$data_dir/chat.db" "$server" "$chat" "$a_id" "$b_id" "$HISTORY_MESSAGES")"
        # Restart on the seeded data (same secret, so the token still works).
        # shellcheck disable=SC2046
        $(server_cmd "$server" "$data_dir" "$port") >>"$data_dir.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
        loadgen "${tags[@]}" history --addr "127.0.0.1:$port" --chat-id "$chat" --token "$token" \
          --max-id "$newest" --clients 64 --seconds 10 --server-pid "$pid" >>"$results"
        stop
        ;;
      login)
        start "$server" "$port" "${REAL_HASH[@]}"
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 100 --rates 2000 --seconds 10 \
          --login-clients 4 --server-pid "$pid" --watch-file "$(wal "$data")" >>"$results"
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
done

echo "== report"
"$root/target/release/loadgen" report "$results" --markdown "$out/tables.md" --svg "$root/docs/bench-direct.svg"
{
  echo "- Date: $(date -u +%Y-%m-%d)"
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores"
  echo "- RAM: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  echo "- Kernel: $(uname -r); Rust: $(rustc --version | cut -d' ' -f2); Node: $(node --version 2>/dev/null || echo none)"
  echo "- Command: \`ROUNDS=$ROUNDS SECONDS_PER_RATE=$SECONDS_PER_RATE ${given[*]:+${given[*]} }bench/run.sh\`$([ "$APPEND" = 1 ] && echo ', added to the results of the runs before it')"
  echo "- Build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' plus uncommitted changes')"
  echo "- Run time: $((($(date +%s) - run_started) / 60)) min"
} >"$out/machine.md"
python3 "$root/bench/compose.py" "$root/bench/BENCHMARKS.template.md" "$out/machine.md" "$out/tables.md" >"$root/docs/BENCHMARKS.md"
echo "wrote docs/BENCHMARKS.md and docs/bench-direct.svg"
