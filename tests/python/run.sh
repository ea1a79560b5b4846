#!/usr/bin/env bash
# Runs the Python end-to-end suite (the python-socketio client, both
# transports, plus requests for REST) against the release binary on a fresh
# data dir.
# Usage: tests/python/run.sh [pytest args...]
#   (from anywhere; expects target/release/chat-server, or CHAT_SERVER_BIN)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/python"

# The venv is rebuilt when requirements.txt changes.
venv="$root/target/python-e2e-venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

source "$root/tests/start-server.sh"
# Each test registers its own users: lift the per-address auth limit so a
# run's few dozen registrations never meet it. Send limits stay as shipped.
# Short heartbeats: a client whose close packet is lost on long-polling
# (python-engineio sends it from a thread that may stop first) is noticed by
# its missing pong within the suite's waits.
start_server --auth-burst 1000 --auth-per-minute 1000 --ping-interval 2s --ping-timeout 2s
export CHAT_URL="$base_url"
echo "python e2e against $CHAT_URL"

# No __pycache__ or .pytest_cache in the tree.
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
"$venv/bin/python" -m pytest -p no:cacheprovider --rootdir "$here" \
  --timeout 60 -v "$@"
