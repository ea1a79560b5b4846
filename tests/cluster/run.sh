#!/usr/bin/env bash
# The cluster suite: three release-binary nodes on one PostgreSQL database,
# one Redis and one S3 store (moto_server), behind nginx with the shipped config
# (deploy/cluster/nginx.conf, its node list replaced), and the official
# socket.io-client spread over them; then the faults: kill -9 a node,
# restart Redis, restart PostgreSQL, each mid-flood.
#
# It runs PostgreSQL and Redis of its own (a temporary cluster from Debian's
# binaries on free ports, a redis-server without persistence), so that
# restarting them disturbs nothing else. Needs Debian's postgresql,
# redis-server and nginx (.ci/run installs them), moto_server on the PATH
# (.ci/s3.sh), Node.js 20+.
# Usage: tests/cluster/run.sh   (expects target/release/chat-server, or CHAT_SERVER_BIN)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CHAT_SERVER_BIN:-$root/target/release/chat-server}"
[ -x "$bin" ] || { echo "no server binary at $bin: build first with 'cargo build --release'" >&2; exit 1; }
work="$(mktemp -d)"
export CHAT_CLUSTER_WORK="$work"
ctl="$root/tests/cluster/ctl.sh"

cleanup() {
  local status=$?
  "$ctl" stop-all || true
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] || continue
      echo "--- $(basename "$log") (last 30 lines) ---" >&2
      tail -n 30 "$log" >&2
    done
  fi
  if [ "$status" -ne 0 ] && [ -n "${KEEP_CLUSTER_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$ctl" setup "$bin"
# shellcheck disable=SC1091
source "$work/env"
echo "cluster: nodes $CHAT_NODES behind nginx at $CHAT_URL"

cd "$root/tests/e2e"
[ -d node_modules ] || npm ci --no-audit --no-fund
CHAT_CLUSTER_CTL="$ctl" node --test --test-concurrency=1 --test-reporter=spec cluster/*.cluster.mjs
