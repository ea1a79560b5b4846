# Sourced by .ci/run: makes sure a Redis 7 server answers on 127.0.0.1:6379
# (the cluster suites need RESP3), installing Debian's package and starting
# it without persistence when there is none. Tests use key prefixes of
# their own and delete their keys.

ensure_redis() {
  if ! command -v redis-cli >/dev/null 2>&1 || ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "installing Redis from Debian"
      export DEBIAN_FRONTEND=noninteractive
      $sudo_cmd apt-get update -qq
      $sudo_cmd apt-get install -y -qq redis-server >/dev/null
    fi
    $sudo_cmd redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 40); do
      redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
      sleep 0.25
    done
  fi
  export CHAT_TEST_REDIS_URL="redis://127.0.0.1:6379"
  echo "Redis: $(redis-cli -h 127.0.0.1 -p 6379 info server | grep -m1 redis_version | tr -d '\r')"
}
