#!/usr/bin/env bash
# provision.sh — install what sensorhub needs on a Debian 12 machine and start
# private, project-local servers. Idempotent: everything that already exists
# (packages, the TimescaleDB build, clusters, running servers) is left alone,
# so a second run takes about a second.
#
#   scripts/provision.sh run    one PostgreSQL 17 + TimescaleDB (Apache) cluster and one Redis for `make run`
#   scripts/provision.sh test   the clusters for `make test`: TimescaleDB (Apache) and plain PostgreSQL, plus Redis
#   scripts/provision.sh stop [run|test]   stop the servers of that profile
#   scripts/provision.sh binaries   only the PostgreSQL 17 binaries; .local/pg.env names their directory
#
# Everything lives under .local/ (ignored by git). The resulting URLs are
# written to .local/<profile>.env as shell assignments.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PGVER=17
PGBIN=""   # set by ensure_postgres
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
  if [ -z "$apt_updated" ]; then log "apt-get update"; "$here/scripts/apt.sh" update -qq; apt_updated=1; fi
  log "apt-get install$missing"
  # shellcheck disable=SC2086
  "$here/scripts/apt.sh" install -y -qq --no-install-recommends $missing >/dev/null
}

# ------------------------------------ PostgreSQL 17 + TimescaleDB (Apache-2 edition)
# Production runs PostgreSQL 17, Debian 12 ships 15: scripts/pg17-rootfs.sh
# provides Debian 13's PostgreSQL 17 and its Apache-only TimescaleDB package,
# built once per machine into a shared cache (docs/postgres.md).
ensure_postgres() {
  PGBIN=$("$here/scripts/pg17-rootfs.sh" ensure)
  mkdir -p "$LOCAL"
  echo "SENSORHUB_TEST_PG_BIN=$PGBIN" > "$LOCAL/pg.env.tmp" && mv "$LOCAL/pg.env.tmp" "$LOCAL/pg.env"
}

# data_major_ok NAME DURABLE: a data directory initialised by another major
# cannot be started by this one. Throwaway clusters are re-initialised; a
# durable one (`make run`'s) is left untouched and provisioning stops.
data_major_ok() {
  local name=$1 durable=$2 data=$LOCAL/pg/$1 major
  [ -s "$data/PG_VERSION" ] || return 0
  major=$(cat "$data/PG_VERSION")
  [ "$major" = "$PGVER" ] && return 0
  if [ "$durable" = yes ]; then
    cat >&2 <<MSG
provision: $data was initialised by PostgreSQL $major; sensorhub now runs PostgreSQL $PGVER.
  Its data is left as it is. Either keep it: move it aside and dump it with PostgreSQL $major
  (docs/postgres.md, "Moving a PostgreSQL $major cluster"), e.g. mv $data $data.pg$major;
  or discard it: make clean-local (removes all of .local).
MSG
    exit 1
  fi
  log "$name cluster was initialised by PostgreSQL $major: re-initialising it with $PGVER (a throwaway test cluster)"
  local pid; pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$data" "$LOCAL/pg/$name.run"
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
  data_major_ok "$name" "$durable"
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
  local data=$LOCAL/pg/$1 pgctl
  [ -s "$data/PG_VERSION" ] || return 0
  # The cluster's own major's pg_ctl if the host has it (a PostgreSQL 15 cluster), else 17's.
  pgctl=/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin/pg_ctl
  [ -x "$pgctl" ] || pgctl=$("$here/scripts/pg17-rootfs.sh" bindir)/pg_ctl
  if "${AS[@]}" "$pgctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping $1 cluster"
    "${AS[@]}" "$pgctl" -D "$data" -m fast -w stop >/dev/null
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
  ensure_packages redis-server
  ensure_postgres
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
    ensure_packages chromium  # the browser test (CORS, EventSource reconnect): tests/e2e/test_browser.py
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
  binaries) ensure_postgres ;;   # only the PostgreSQL binaries (.local/pg.env), e.g. for `make bench`
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
    echo "usage: $0 run|test|binaries|stop [run|test|all]" >&2; exit 2 ;;
esac
log "done"
