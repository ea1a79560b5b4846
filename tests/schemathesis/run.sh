#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis:
# no 5xx, and every response conforms to /openapi.json (status codes,
# content types, headers, bodies). Fixed seed and a bounded number of
# examples, so a run is repeatable and takes about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
SCHEMATHESIS_VERSION=4.32.5

venv="$root/target/schemathesis-venv"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

source "$root/tests/start-server.sh"
# Rate limits off: the fuzzer should reach the handlers, not the limiter.
start_server --no-rate-limits
base="$base_url"

token_of() { # username
  curl -sf "$base/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"correct horse\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}

cd "$data"
fuzz() { # token, then schemathesis filters
  local token="$1"
  shift
  "$venv/bin/st" run "$base/openapi.json" \
    -H "Authorization: Bearer $token" \
    --seed 20261125 --max-examples 50 \
    --phases examples,coverage,fuzzing \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --generation-database none \
    --no-color "$@"
}
# Everything but the routes that end the caller's session (a logout would
# leave the rest of the run only 401s), then those on a session of their own.
session_enders='^/auth/(logout|password|sessions/)'
fuzz "$(token_of schemathesis)" --exclude-path-regex "^/(assets|docs)|$session_enders"
fuzz "$(token_of schemathesis2)" --include-path-regex "$session_enders"
# The server must still be up and healthy after all of that.
curl -sf "$base/healthz" >/dev/null
echo "schemathesis: passed, server healthy"
