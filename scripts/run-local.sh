#!/usr/bin/env bash
# run-local.sh — `make run`: provision, migrate, and run the API with its workers.
# Ctrl-C stops everything this script started (servers it found running are left alone).
# DATABASE_URL / REDIS_URL in the environment: use those servers instead of local ones.
# SIMULATE=1: also run the sensor simulator against the API.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${VENV:-.venv}
LOCAL=$here/.local
mkdir -p "$LOCAL"

# Which local servers were already up before us (so we only stop what we start).
pg_was_up=no; redis_was_up=no
[ -f "$LOCAL/pg/run/postmaster.pid" ] && pg_was_up=yes
[ -f "$LOCAL/redis/run/redis.pid" ] && kill -0 "$(cat "$LOCAL/redis/run/redis.pid")" 2>/dev/null && redis_was_up=yes

scripts/provision.sh run
set -a; . "$LOCAL/run.env"; set +a

if [ -z "${SENSORHUB_BOOTSTRAP_ADMIN_KEY:-}" ]; then
  if [ ! -s "$LOCAL/admin.key" ]; then
    (umask 077; "$VENV/bin/python" -c 'import secrets; print("shk_local_" + secrets.token_urlsafe(24))' > "$LOCAL/admin.key")
  fi
  SENSORHUB_BOOTSTRAP_ADMIN_KEY=$(cat "$LOCAL/admin.key")
fi
export SENSORHUB_BOOTSTRAP_ADMIN_KEY
export SENSORHUB_ENV=${SENSORHUB_ENV:-local}
export SENSORHUB_LOG_FORMAT=${SENSORHUB_LOG_FORMAT:-console}
export SENSORHUB_PORT=${SENSORHUB_PORT:-8000}

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "[run] stopping..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${SENSORHUB_LOCAL_PG:-}" = run ] && [ "$pg_was_up" = no ]; then scripts/provision.sh stop-pg run || true; fi
  if [ "${SENSORHUB_LOCAL_REDIS:-}" = run ] && [ "$redis_was_up" = no ]; then scripts/provision.sh stop-redis run || true; fi
  echo "[run] stopped" >&2
}
trap cleanup INT TERM EXIT

"$VENV/bin/sensorhub" migrate
# Workers: each is optional until its command exists.
for worker in projector maintenance; do
  if "$VENV/bin/sensorhub" "$worker" --help >/dev/null 2>&1; then
    "$VENV/bin/sensorhub" "$worker" & pids+=($!)
  fi
done
SENSORHUB_AUTO_MIGRATE=false "$VENV/bin/sensorhub" serve & pids+=($!)

url="http://127.0.0.1:$SENSORHUB_PORT"
for _ in $(seq 100); do
  curl -fsS "$url/health/live" >/dev/null 2>&1 && break
  sleep 0.2
done
cat >&2 <<MSG

  sensorhub is running
    API:        $url   (OpenAPI: $url/schema, readiness: $url/health/ready)
    admin key:  $SENSORHUB_BOOTSTRAP_ADMIN_KEY   (also in .local/admin.key)
    try:        curl -H "Authorization: Bearer \$(cat .local/admin.key)" $url/v1/devices
  Ctrl-C stops everything started here.

MSG
if [ "${SIMULATE:-0}" = 1 ] && "$VENV/bin/sensorhub" simulate --help >/dev/null 2>&1; then
  "$VENV/bin/sensorhub" simulate --url "$url" --api-key "$SENSORHUB_BOOTSTRAP_ADMIN_KEY" & pids+=($!)
fi
wait -n "${pids[@]}" || true
