#!/usr/bin/env bash
# Benchmarks chat-server against the Node.js reference (../shared/node-reference)
# with one load generator, in one run, alternating A/B, server pinned to CPU 0
# and generator to CPU 1. Results: target/bench/results.jsonl; tables and the
# chart are written into docs/BENCHMARKS.md and docs/bench-direct.svg.
#
# usage: bench/run.sh                 (everything, ~25 minutes on 2 cores)
#        ROUNDS=1 SECONDS_PER_RATE=3 bench/run.sh     (a quicker look)
#        SERVERS=rust bench/run.sh    (one server only)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

ROUNDS="${ROUNDS:-3}"
SERVERS="${SERVERS:-rust node}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-5}"
DIRECT_RATES="${DIRECT_RATES:-1000,2500,5000,7500,10000,15000,17500,20000,25000,30000}"
FANOUT_RATES="${FANOUT_RATES:-100,300,1000,1500}"
IDLE_SIZES="${IDLE_SIZES:-10000 19000}"
HISTORY_MESSAGES="${HISTORY_MESSAGES:-1000000}"
SCENARIOS="${SCENARIOS:-startup idle direct fanout history login}"
out="$root/target/bench"
results="$out/results.jsonl"
mkdir -p "$out"

echo "== building"
cargo build --release --workspace --quiet
if [[ " $SERVERS " == *" node "* ]] && [ ! -d "$out/node-reference/node_modules" ]; then
  echo "== installing the Node reference (better-sqlite3 compiles: about 2 minutes)"
  rm -rf "$out/node-reference"
  cp -r "$root/../shared/node-reference" "$out/node-reference"
  (cd "$out/node-reference" && npm ci --no-audit --no-fund --loglevel=error)
fi
ulimit -n "$(ulimit -Hn)"

loadgen() { taskset -c 1 "$root/target/release/loadgen" "$@"; }
# Setup (hundreds of accounts) uses a cheap hash on both servers; the login
# scenario uses the real cost, the same for both.
CHEAP_HASH=(--argon2-memory-kib 8 --argon2-time-cost 1 --argon2-parallelism 1)
REAL_HASH=(--argon2-memory-kib 19456 --argon2-time-cost 2 --argon2-parallelism 1)

server_cmd() { # server data port hash...
  local server=$1 data=$2 port=$3
  shift 3
  if [ "$server" = rust ]; then
    echo taskset -c 0 "$root/target/release/chat-server" serve --addr "127.0.0.1:$port" --data-dir "$data" \
      --no-rate-limits --max-sockets-per-user 100000 --max-connections 30000 --log warn "$@"
  else
    echo taskset -c 0 node "$out/node-reference/server.js" --addr "127.0.0.1:$port" --data-dir "$data" "$@"
  fi
}

pid=""
start() { # server port hash...
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

run_scenarios() { # server round
  local server=$1 round=$2 port=4100
  local tags=(--tag "server=$server" --tag "round=$round")
  for scenario in $SCENARIOS; do
    echo "== round $round, $server: $scenario"
    case $scenario in
      startup)
        data="$(mktemp -d "$out/data.XXXXXX")"
        # shellcheck disable=SC2046
        loadgen "${tags[@]}" startup --addr "127.0.0.1:$port" -- $(server_cmd "$server" "$data" "$port" "${CHEAP_HASH[@]}") >>"$results"
        ;;
      idle)
        for n in $IDLE_SIZES; do
          start "$server" "$port" "${CHEAP_HASH[@]}"
          loadgen "${tags[@]}" idle --addr "127.0.0.1:$port" --sockets "$n" --users 100 --server-pid "$pid" >>"$results"
          stop
        done
        ;;
      direct)
        start "$server" "$port" "${CHEAP_HASH[@]}"
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 500 --rates "$DIRECT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" >>"$results"
        stop
        ;;
      fanout)
        start "$server" "$port" "${CHEAP_HASH[@]}"
        loadgen "${tags[@]}" fanout --addr "127.0.0.1:$port" --members 1000 --rates "$FANOUT_RATES" \
          --seconds "$SECONDS_PER_RATE" --server-pid "$pid" >>"$results"
        stop
        ;;
      history)
        start "$server" "$port" "${CHEAP_HASH[@]}"
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
        $(server_cmd "$server" "$data_dir" "$port" "${CHEAP_HASH[@]}") >>"$data_dir.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
        loadgen "${tags[@]}" history --addr "127.0.0.1:$port" --chat-id "$chat" --token "$token" \
          --max-id "$newest" --clients 64 --seconds 10 --server-pid "$pid" >>"$results"
        stop
        ;;
      login)
        start "$server" "$port" "${REAL_HASH[@]}"
        loadgen "${tags[@]}" direct --addr "127.0.0.1:$port" --pairs 100 --rates 2000 --seconds 10 \
          --login-clients 4 --server-pid "$pid" >>"$results"
        stop
        ;;
    esac
    rm -rf "$out"/data.*
  done
}

: >"$results"
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
  echo "- Command: \`ROUNDS=$ROUNDS SECONDS_PER_RATE=$SECONDS_PER_RATE bench/run.sh\`"
} >"$out/machine.md"
python3 "$root/bench/compose.py" "$root/bench/BENCHMARKS.template.md" "$out/machine.md" "$out/tables.md" >"$root/docs/BENCHMARKS.md"
echo "wrote docs/BENCHMARKS.md and docs/bench-direct.svg"
