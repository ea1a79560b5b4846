#!/usr/bin/env bash
# Runs the browser test of the demo page (headless Chromium through
# playwright-core) against the release binary on a fresh data dir.
# Usage: tests/browser/run.sh   (from anywhere; builds nothing, expects
# target/release/chat-server, Node.js 20+ with npm, and Debian's chromium
# on PATH: apt-get install -y chromium). Screenshots: target/e2e-screenshots/
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$chromium" ] || { echo "chromium is not on PATH: install it (apt-get install -y chromium) or set CHROMIUM" >&2; exit 1; }
export CHROMIUM="$chromium"

source "$root/tests/start-server.sh"
# Short heartbeats: when bob's browser goes offline its close frame may never
# leave, and the server must notice by the missing pong within the test's wait.
start_server --ping-interval 2s --ping-timeout 2s
export CHAT_URL="$base_url"
echo "browser test against $CHAT_URL with $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1))"

mkdir -p "$root/target/e2e-screenshots"
rm -f "$root/target/e2e-screenshots/"*.png
cd "$root/tests/browser"
[ -d node_modules ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=spec demo.test.mjs uploads.test.mjs
