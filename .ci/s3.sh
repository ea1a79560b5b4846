# Sourced by .ci/run: an S3-compatible server for the blob-store tests,
# moto_server (PyPI's moto[server], pinned) from a venv under target/, on a
# free loopback port, in memory; stopped when the run ends. Tests use a
# bucket prefix of their own per data dir.

ensure_s3() {
  local venv="$PWD/target/moto-venv" want="moto[server]==5.2.1"
  if [ ! -x "$venv/bin/moto_server" ] || [ "$(cat "$venv/pinned" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$want"
    echo "$want" >"$venv/pinned"
  fi
  export PATH="$venv/bin:$PATH"
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  moto_server -H 127.0.0.1 -p "$port" >"$PWD/target/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export S3_TEST_ENDPOINT="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  echo "S3: moto_server $("$venv/bin/python" -c 'import moto; print(moto.__version__)') at $S3_TEST_ENDPOINT"
}

stop_s3() { [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true; }
