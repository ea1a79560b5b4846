#!/usr/bin/env bash
# The cluster suite's controls (tests/cluster/run.sh sets it up; the tests
# call it): start and stop the nodes, Redis, PostgreSQL, the S3 store
# (moto_server) and nginx it runs.
# State lives in $CHAT_CLUSTER_WORK.
#   ctl.sh setup BIN | start-node N | kill-node N | stop-redis | start-redis
#   ctl.sh stop-postgres | start-postgres | stop-all
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${CHAT_CLUSTER_WORK:?set by tests/cluster/run.sh}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1; }
wait_for() { # what command...
  local what=$1
  shift
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$what did not come up" >&2
  return 1
}

state() { cat "$work/$1"; }

start_postgres() {
  as_postgres "$(pg_bin)/pg_ctl" -D "$work/pg" -w -t 30 -l "$work/pglog/postgres.log" \
    -o "-p $(state pg_port) -k $work/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
}
stop_postgres() { as_postgres "$(pg_bin)/pg_ctl" -D "$work/pg" -w -t 30 -m immediate stop >/dev/null; }

start_redis() {
  redis-server --daemonize yes --bind 127.0.0.1 --port "$(state redis_port)" --save "" --appendonly no \
    --pidfile "$work/redis.pid" --logfile "$work/redis.log"
  wait_for redis redis-cli -p "$(state redis_port)" ping
}
stop_redis() {
  redis-cli -p "$(state redis_port)" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    redis-cli -p "$(state redis_port)" ping >/dev/null 2>&1 || return 0
    sleep 0.1
  done
}

start_s3() {
  moto_server -H 127.0.0.1 -p "$(state s3_port)" >>"$work/moto.log" 2>&1 &
  echo $! >"$work/moto.pid"
  wait_for moto_server curl -sf "http://127.0.0.1:$(state s3_port)/"
  # moto takes an unsigned request.
  curl -sf -X PUT "http://127.0.0.1:$(state s3_port)/chat" >/dev/null
}

start_node() { # N
  local n=$1 port
  port="$(state "node${n}_port")"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  "$(state bin)" serve --addr "127.0.0.1:$port" --data-dir "$work/data$n" \
    --database-url "postgres://postgres@127.0.0.1:$(state pg_port)/chat" \
    --redis-url "redis://127.0.0.1:$(state redis_port)" --redis-prefix cluster-test \
    --blob-store s3://chat/cluster --s3-endpoint "http://127.0.0.1:$(state s3_port)" \
    --cluster-heartbeat 1s --ping-interval 2s --ping-timeout 2s --no-rate-limits \
    --log-format json --log warn,chat_server=info >>"$work/node$n.log" 2>&1 &
  echo $! >"$work/node${n}.pid"
  wait_for "node $n" curl -sf "http://127.0.0.1:$port/healthz"
}

case "${1:-}" in
  setup)
    echo "$2" >"$work/bin"
    chmod 755 "$work"
    command -v moto_server >/dev/null || { echo "needs moto_server (pip install 'moto[server]'), the nodes' S3" >&2; exit 1; }
    mkdir -p "$work/pg" "$work/pgsock" "$work/pglog" "$work/nginx/logs"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$work/pg" "$work/pgsock" "$work/pglog"
    free_port >"$work/pg_port"
    free_port >"$work/redis_port"
    free_port >"$work/s3_port"
    free_port >"$work/lb_port"
    for n in 1 2 3; do free_port >"$work/node${n}_port"; done
    as_postgres "$(pg_bin)/initdb" -D "$work/pg" -A trust -U postgres --no-sync >/dev/null
    start_postgres
    psql "postgres://postgres@127.0.0.1:$(state pg_port)/postgres" -qc "CREATE DATABASE chat"
    start_redis
    start_s3
    for n in 1 2 3; do start_node "$n"; done
    # The shipped nginx config, with this run's nodes, port and paths.
    servers=""
    for n in 1 2 3; do servers+="        server 127.0.0.1:$(state "node${n}_port") max_fails=1 fail_timeout=5s;\n"; done
    sed -e "/# nodes (/,/# end of nodes/c\\$servers" \
        -e "s/listen 8080;/listen 127.0.0.1:$(state lb_port);/" \
        -e "s/^worker_processes auto;/worker_processes 1;\ndaemon off;\npid $(echo "$work" | sed 's/\//\\\//g')\/nginx\/nginx.pid;\nerror_log $(echo "$work" | sed 's/\//\\\//g')\/nginx\/logs\/error.log;/" \
        "$root/deploy/cluster/nginx.conf" >"$work/nginx/nginx.conf"
    sed -i "s/^http {/http {\n    access_log off;\n    client_body_temp_path $(echo "$work" | sed 's/\//\\\//g')\/nginx\/body;\n    proxy_temp_path $(echo "$work" | sed 's/\//\\\//g')\/nginx\/proxy;/" "$work/nginx/nginx.conf"
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
    "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >>"$work/nginx.log" 2>&1 &
    echo $! >"$work/nginx.pid.run"
    wait_for nginx curl -sf "http://127.0.0.1:$(state lb_port)/healthz"
    {
      echo "export CHAT_URL=http://127.0.0.1:$(state lb_port)"
      echo "export CHAT_NODES=http://127.0.0.1:$(state node1_port),http://127.0.0.1:$(state node2_port),http://127.0.0.1:$(state node3_port)"
      echo "export CHAT_CLUSTER_HEARTBEAT_MS=1000"
    } >"$work/env"
    ;;
  start-node) start_node "$2" ;;
  kill-node) kill -9 "$(state "node$2.pid")" ;;
  stop-redis) stop_redis ;;
  start-redis) start_redis ;;
  stop-postgres) stop_postgres ;;
  start-postgres) start_postgres ;;
  stop-all)
    for n in 1 2 3; do [ -f "$work/node$n.pid" ] && kill "$(state "node$n.pid")" 2>/dev/null || true; done
    [ -f "$work/nginx.pid.run" ] && kill "$(state nginx.pid.run)" 2>/dev/null || true
    stop_redis || true
    [ -f "$work/moto.pid" ] && kill "$(state moto.pid)" 2>/dev/null || true
    [ -f "$work/pg/postmaster.pid" ] && stop_postgres || true
    ;;
  *) echo "usage: ctl.sh setup BIN | start-node N | kill-node N | stop-redis | start-redis | stop-postgres | start-postgres | stop-all" >&2; exit 2 ;;
esac
