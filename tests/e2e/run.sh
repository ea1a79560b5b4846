#!/usr/bin/env bash
# Runs the end-to-end suite (the official socket.io-client, both transports)
# against the release binary on a fresh data dir.
# Usage: tests/e2e/run.sh   (from anywhere; expects target/release/chat-server)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/tests/start-server.sh"
start_server
export CHAT_URL="$base_url"
echo "e2e against $CHAT_URL"

cd "$root/tests/e2e"
[ -d node_modules ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=spec
