#!/usr/bin/env bash
# Cluster benchmark: chat-server on PostgreSQL as one node (no Redis), and as
# two and three nodes on PostgreSQL + Redis, with the generator spreading
# clients over the nodes (each direct-message receiver on another node than
# its sender, so every message crosses the cluster; fan-out members round
# robin). Plus redis-benchmark and pgbench on the same box, for scale.
# The nodes share CPU 0, the generator has CPU 1, PostgreSQL and Redis are
# not pinned: on a two-core machine this measures what the cluster path
# costs, not how far more machines would carry it.
# Results: target/bench/cluster.jsonl, and a table on stdout (markdown).
# usage: bench/cluster.sh   (PG_URL, REDIS_URL, RATES, FANOUT_RATES, PHASE_SECONDS)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
RATES="${RATES:-1000,2500,5000,7500,10000}"
FANOUT_RATES="${FANOUT_RATES:-100,300,1000}"
SECONDS_PER_RATE="${PHASE_SECONDS:-4}"
out="$root/target/bench"
mkdir -p "$out"
results="$out/cluster.jsonl"
: >"$results"
[ "${BUILD:-1}" = 0 ] || cargo build --release --workspace >/dev/null
bin="$root/target/release/chat-server"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
db=""
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [ -n "$db" ]; then psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; fi
  db=""
}
trap stop_all EXIT

# Starts N nodes on a fresh database; with Redis when N > 1 or REDIS=1.
start_nodes() { # N redis(0|1); sets addrs
  local n=$1 redis=$2 prefix
  addrs=""
  db="bench_cluster_$$_$n$redis"
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $db" >/dev/null
  prefix="bench-$$-$n$redis"
  for i in $(seq 1 "$n"); do
    local port data flags=()
    port="$(free_port)"
    data="$(mktemp -d)"
    # (A cheap password hash: 1000 accounts are made per start, and this
    # benchmark is not about logins.)
    flags=(--no-rate-limits --max-sockets-per-user 100000 --max-connections 30000
      --argon2-memory-kib 1024 --argon2-time-cost 1 --database-url "$PG_URL/$db")
    [ "$redis" = 1 ] && flags+=(--redis-url "$REDIS_URL" --redis-prefix "$prefix")
    taskset -c 0 "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" "${flags[@]}" >"$data/log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    addrs+="${addrs:+,}127.0.0.1:$port"
  done
}

for setup in "1 0" "2 1" "3 1"; do
  read -r n redis <<<"$setup"
  label="$n node$([ "$n" = 1 ] || echo s)$([ "$redis" = 1 ] && echo ', PostgreSQL + Redis' || echo ', PostgreSQL')"
  echo "== $label: direct" >&2
  start_nodes "$n" "$redis"
  taskset -c 1 target/release/loadgen --tag "setup=$label" --tag nodes="$n" direct --addr "$addrs" \
    --pairs 500 --rates "$RATES" --seconds "$SECONDS_PER_RATE" >>"$results"
  stop_all
  echo "== $label: fan-out" >&2
  start_nodes "$n" "$redis"
  taskset -c 1 target/release/loadgen --tag "setup=$label" --tag nodes="$n" fanout --addr "$addrs" \
    --members 1000 --rates "$FANOUT_RATES" --seconds "$SECONDS_PER_RATE" >>"$results"
  stop_all
done

echo "== redis-benchmark and pgbench" >&2
redis_host="${REDIS_URL#redis://}"
rb="$(taskset -c 1 redis-benchmark -h "${redis_host%:*}" -p "${redis_host##*:}" -q -n 200000 -c 50 -P 1 PUBLISH bench-channel hello 2>/dev/null | tr '\r' '\n' | grep -E 'requests per second' | tail -1)"
echo "{\"scenario\":\"redis-benchmark\",\"result\":\"$rb\"}" >>"$results"
pgdb="bench_pgbench_$$"
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $pgdb" >/dev/null
pgbench_bin="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)"
"$pgbench_bin" -q -i -s 10 "$PG_URL/$pgdb" >/dev/null 2>&1
tps="$(taskset -c 1 "$pgbench_bin" -c 4 -j 1 -T 10 -N "$PG_URL/$pgdb" 2>/dev/null | grep -E '^tps' | grep -oE '[0-9]+\.[0-9]+' | head -1)"
psql -q "$PG_URL/postgres" -c "DROP DATABASE $pgdb" >/dev/null
echo "{\"scenario\":\"pgbench\",\"tps\":$tps}" >>"$results"

python3 "$root/bench/cluster_report.py" "$results"
