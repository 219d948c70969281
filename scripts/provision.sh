#!/usr/bin/env bash
# provision.sh — install what sensorhub needs on a Debian 12 machine and start
# private, project-local servers. Idempotent: everything that already exists
# (packages, the TimescaleDB build, clusters, running servers) is left alone,
# so a second run takes about a second.
#
#   scripts/provision.sh run    one PostgreSQL 15 + TimescaleDB (Apache) cluster and one Redis for `make run`
#   scripts/provision.sh test   the clusters for `make test`: TimescaleDB (Apache) and plain PostgreSQL, plus Redis
#   scripts/provision.sh stop [run|test]   stop the servers of that profile
#
# Everything lives under .local/ (ignored by git). The resulting URLs are
# written to .local/<profile>.env as shell assignments.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PGVER=15
PGBIN=/usr/lib/postgresql/$PGVER/bin
LOCAL=${SENSORHUB_LOCAL_DIR:-$here/.local}
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
t0=$(date +%s)
log() { echo "[provision +$(( $(date +%s) - t0 ))s] $*" >&2; }

# ---------------------------------------------------------------- packages
apt_updated=""
ensure_packages() {
  local missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ -z "$apt_updated" ]; then log "apt-get update"; $SUDO apt-get update -qq; apt_updated=1; fi
  log "apt-get install$missing"
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# ------------------------------------------------- TimescaleDB (Apache-2 edition)
# Debian 12 ships no TimescaleDB; Debian 13's source package builds cleanly
# against bookworm's PostgreSQL 15 with APACHE_ONLY=ON (about a minute here).
ensure_timescaledb() {
  local pkglib share
  pkglib=$("$PGBIN/pg_config" --pkglibdir); share=$("$PGBIN/pg_config" --sharedir)
  if [ -f "$pkglib/timescaledb.so" ] && [ -f "$share/extension/timescaledb.control" ]; then
    return 0
  fi
  ensure_packages postgresql-server-dev-$PGVER cmake gcc make libssl-dev dpkg-dev xz-utils
  local base=$LOCAL/build/timescaledb apt
  apt=$base/apt
  mkdir -p "$apt/lists/partial" "$base/src"
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "provision: no Debian mirror found in the apt sources" >&2; exit 1; }
  # A private source list: the system's apt sources are not touched.
  echo "deb-src $mirror trixie main" > "$apt/sources.list"
  local aptopt=(-o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=-
                -o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root)
  log "fetching the timescaledb source package (Debian trixie)"
  apt-get "${aptopt[@]}" update -qq
  (cd "$base/src" && rm -rf timescaledb-*/ timescaledb_* && apt-get "${aptopt[@]}" source -qq timescaledb >/dev/null)
  local src blog=$base/build.log
  src=$(ls -d "$base"/src/timescaledb-*/ | head -n1)
  log "building $(basename "$src") (Apache-2 edition) — about a minute; log: $blog"
  { cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG="$PGBIN/pg_config" \
        -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DSEND_TELEMETRY_DEFAULT=OFF -DUSE_TELEMETRY=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF &&
    make -C "$src/build" -j"$(nproc)" &&
    $SUDO make -C "$src/build" install; } > "$blog" 2>&1 || { tail -n 40 "$blog" >&2; exit 1; }
  log "timescaledb installed"
}

# ---------------------------------------------------------------- ports
# Another checkout on this machine may already use the default ports: a new
# cluster takes the first free port from its default, and keeps it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

# ---------------------------------------------------------------- clusters
if [ "$(id -u)" -eq 0 ]; then
  AS=(runuser -u postgres --); OWNER=postgres
else
  AS=(); OWNER=$(id -un)
fi

# start_cluster NAME PORT TIMESCALE(yes|no) DURABLE(yes|no)
start_cluster() {
  local name=$1 port=$2 tsdb=$3 durable=$4
  local data=$LOCAL/pg/$name run=$LOCAL/pg/$name.run
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$LOCAL/pg"
  install -d -o "$OWNER" -m 0700 "$data"
  install -d -o "$OWNER" -m 0755 "$run"
  if [ -s "$data/PG_VERSION" ]; then
    port=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$data/postgresql.conf" | tail -n1)
  else
    port=$(pick_port "$port")
    log "initdb $name cluster ($data)"
    "${AS[@]}" "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    {
      echo "# --- sensorhub provision.sh ---"
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$run'"
      echo "max_connections = 300"
      echo "shared_buffers = 256MB"
      if [ "$tsdb" = yes ]; then
        echo "shared_preload_libraries = 'timescaledb'"
        echo "timescaledb.telemetry_level = off"
        echo "timescaledb.max_background_workers = 4"
      fi
      if [ "$durable" = no ]; then
        echo "# throwaway test cluster: durability off for speed"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } | "${AS[@]}" tee -a "$data/postgresql.conf" >/dev/null
  fi
  if "${AS[@]}" "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "$name cluster already running on 127.0.0.1:$port"
    echo "$port" > "$LOCAL/pg/$name.port"
  else
    log "starting $name cluster on 127.0.0.1:$port"
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$data" -l "$run/postgres.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$run/postgres.log" >&2; exit 1; }
  fi
  echo "$port" > "$LOCAL/pg/$name.port"
}

stop_cluster() {
  local data=$LOCAL/pg/$1
  [ -s "$data/PG_VERSION" ] || return 0
  if "${AS[@]}" "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping $1 cluster"
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

# ensure_database PORT DBNAME
ensure_database() {
  local port=$1 db=$2
  if ! "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
       -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  fi
}

# ---------------------------------------------------------------- redis
start_redis() {
  local name=$1 port=$2 dir=$LOCAL/redis/$1
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null && [ -s "$dir/port" ]; then
    log "redis $name already running on 127.0.0.1:$(cat "$dir/port")"
    return 0
  fi
  port=$(pick_port "$port")
  echo "$port" > "$dir/port"
  log "starting redis $name on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "provision: redis did not start, see $dir/redis.log" >&2; exit 1
}

stop_redis() {
  local dir=$LOCAL/redis/$1
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    log "stopping redis $1"; kill "$(cat "$dir/redis.pid")"
  fi
}

# ---------------------------------------------------------------- profiles
RUN_PG_PORT=${SENSORHUB_RUN_PG_PORT:-55431}
RUN_REDIS_PORT=${SENSORHUB_RUN_REDIS_PORT:-56371}
TEST_TSDB_PORT=${SENSORHUB_TEST_TSDB_PORT:-55432}
TEST_PLAIN_PORT=${SENSORHUB_TEST_PLAIN_PORT:-55433}
TEST_REDIS_PORT=${SENSORHUB_TEST_REDIS_PORT:-56372}

base_packages() {
  ensure_packages postgresql-$PGVER postgresql-client-$PGVER redis-server
  ensure_timescaledb
}

profile=${1:-}
case "$profile" in
  run)
    base_packages
    env_file=$LOCAL/run.env; : > "$env_file.tmp"
    if [ -z "${DATABASE_URL:-}" ]; then
      start_cluster run "$RUN_PG_PORT" yes yes
      RUN_PG_PORT=$(cat "$LOCAL/pg/run.port")
      ensure_database "$RUN_PG_PORT" sensorhub
      echo "SENSORHUB_DATABASE_URL=postgresql://postgres@127.0.0.1:$RUN_PG_PORT/sensorhub" >> "$env_file.tmp"
      echo "SENSORHUB_LOCAL_PG=run" >> "$env_file.tmp"
    else
      log "DATABASE_URL is set: using that server, no local cluster"
      echo "SENSORHUB_DATABASE_URL=$DATABASE_URL" >> "$env_file.tmp"
    fi
    if [ -z "${REDIS_URL:-}" ]; then
      start_redis run "$RUN_REDIS_PORT"
      RUN_REDIS_PORT=$(cat "$LOCAL/redis/run/port")
      echo "SENSORHUB_REDIS_URL=redis://127.0.0.1:$RUN_REDIS_PORT/0" >> "$env_file.tmp"
      echo "SENSORHUB_LOCAL_REDIS=run" >> "$env_file.tmp"
    else
      log "REDIS_URL is set: using that server, no local redis"
      echo "SENSORHUB_REDIS_URL=$REDIS_URL" >> "$env_file.tmp"
    fi
    mv "$env_file.tmp" "$env_file"
    ;;
  test)
    base_packages
    start_cluster test-tsdb "$TEST_TSDB_PORT" yes no
    start_cluster test-plain "$TEST_PLAIN_PORT" no no
    start_redis test "$TEST_REDIS_PORT"
    TEST_TSDB_PORT=$(cat "$LOCAL/pg/test-tsdb.port")
    TEST_PLAIN_PORT=$(cat "$LOCAL/pg/test-plain.port")
    TEST_REDIS_PORT=$(cat "$LOCAL/redis/test/port")
    cat > "$LOCAL/test.env" <<EOF
SENSORHUB_TEST_TSDB_URL=postgresql://postgres@127.0.0.1:$TEST_TSDB_PORT/postgres
SENSORHUB_TEST_TSDB_DATA=$LOCAL/pg/test-tsdb
SENSORHUB_TEST_PLAIN_URL=postgresql://postgres@127.0.0.1:$TEST_PLAIN_PORT/postgres
SENSORHUB_TEST_PLAIN_DATA=$LOCAL/pg/test-plain
SENSORHUB_TEST_REDIS_URL=redis://127.0.0.1:$TEST_REDIS_PORT/0
SENSORHUB_TEST_REDIS_DIR=$LOCAL/redis/test
SENSORHUB_TEST_PG_BIN=$PGBIN
EOF
    ;;
  stop-pg) stop_cluster "${2:?cluster name}" ;;
  stop-redis) stop_redis "${2:?redis name}" ;;
  stop)
    case "${2:-all}" in
      run) stop_cluster run; stop_redis run ;;
      test) stop_cluster test-tsdb; stop_cluster test-plain; stop_redis test ;;
      all) stop_cluster run; stop_redis run; stop_cluster test-tsdb; stop_cluster test-plain; stop_redis test ;;
      *) echo "usage: $0 stop [run|test|all]" >&2; exit 2 ;;
    esac
    ;;
  *)
    echo "usage: $0 run|test|stop [run|test|all]" >&2; exit 2 ;;
esac
log "done"
