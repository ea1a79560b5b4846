#!/usr/bin/env bash
# Runs the Postman collection with newman against the release binary on a
# fresh data dir. Usage: postman/run.sh [extra newman args]   (from anywhere;
# expects target/release/chat-server, or the binary in $CHAT_SERVER_BIN; with
# $CHAT_TEST_DATABASE_URL the server gets a fresh PostgreSQL database there:
# see ../tests/start-server.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$root/tests/start-server.sh"
start_server
echo "newman against $base_url"

cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
npx --no-install newman run chat-server.postman_collection.json \
  -e local.postman_environment.json \
  --env-var "base_url=$base_url" \
  --working-dir "$here" \
  --bail \
  "$@"
