# Sourced by .ci/run: makes sure a PostgreSQL server answers on
# 127.0.0.1:5432 with trust auth for local TCP connections, installing
# Debian's package and starting its cluster when there is none, and exports
# CHAT_TEST_DATABASE_URL for the suites (each test makes and drops its own
# database on it).

ensure_postgres() {
  local url="postgres://postgres@127.0.0.1:5432/postgres"
  if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      echo "installing PostgreSQL from Debian"
      export DEBIAN_FRONTEND=noninteractive
      $sudo_cmd apt-get update -qq
      $sudo_cmd apt-get install -y -qq postgresql >/dev/null
    fi
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! $sudo_cmd grep -q "chat-server CI" "$hba"; then
      # Trust TCP connections from this machine only, ahead of the defaults.
      $sudo_cmd sed -i '1i # chat-server CI: trust local TCP\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    $sudo_cmd pg_ctlcluster --skip-systemctl-redirect "$version" main start || \
      $sudo_cmd pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    for _ in $(seq 1 60); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 0.5
    done
  fi
  psql "$url" -qtAc "SELECT 1" >/dev/null
  export CHAT_TEST_DATABASE_URL="$url"
  echo "PostgreSQL: $(psql "$url" -qtAc 'SHOW server_version')"
}
