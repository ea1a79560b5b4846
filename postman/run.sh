#!/usr/bin/env bash
# Runs the Postman collection with newman against the release binary on a
# fresh data dir. Usage: postman/run.sh [extra newman args]   (from anywhere;
# expects target/release/chat-server, or the binary in $CHAT_SERVER_BIN; with
# $CHAT_TEST_DATABASE_URL the server gets a fresh PostgreSQL database there:
# see ../tests/start-server.sh). CHAT_SKIP_CATCHUP=1 leaves out the folder
# "Catch-up without gaps (v2)" (seq and GET /events), for a server without
# them yet: newman then runs every other folder, in the collection's order.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$root/tests/start-server.sh"
start_server
echo "newman against $base_url"

cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
folders=()
if [ "${CHAT_SKIP_CATCHUP:-0}" = 1 ]; then
  echo "leaving out the folder \"Catch-up without gaps (v2)\" (CHAT_SKIP_CATCHUP=1)"
  while IFS= read -r name; do folders+=(--folder "$name"); done < <(node -e '
    const c = require("./chat-server.postman_collection.json");
    for (const f of c.item) if (!f.name.startsWith("Catch-up")) console.log(f.name);')
fi
npx --no-install newman run chat-server.postman_collection.json \
  -e local.postman_environment.json \
  --env-var "base_url=$base_url" \
  --working-dir "$here" \
  --bail \
  "${folders[@]}" \
  "$@"
