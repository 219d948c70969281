#!/usr/bin/env bash
# containers.sh — the image and the Compose environment, built and run here (the make targets call it).
#
#   scripts/containers.sh image            build sensorhub:local (app/Dockerfile, target runtime) on the
#                                          local Python base; records size and build time
#   scripts/containers.sh compose-env      write .local/compose/compose.env (secrets made once, ports)
#   scripts/containers.sh build [SVC...]   build the compose services (docker-compose.local.yml)
#   scripts/containers.sh up               build, start detached, return once the API answers through nginx
#   scripts/containers.sh down [--volumes] stop and remove the stack (volumes only when asked)
#   scripts/containers.sh compose ARGS...  `docker compose` with this environment's files and env file
#
# The engine, the Compose plugin and the base images come from scripts/docker.sh (called here).
# From the caller's environment: API_PORT, SENSORHUB_BOOTSTRAP_ADMIN_KEY (both kept in the env file),
# BASE_IMAGE (default: the local Python base; give an upstream image where a registry answers).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
LOCAL=${SENSORHUB_LOCAL_DIR:-$here/.local}
DOCKER=${DOCKER:-/usr/bin/docker}
ENV_FILE=$LOCAL/compose/compose.env
REPORT=$LOCAL/docker/image.txt
PYTHON_BASE=sensorhub-base/python:3.11-bookworm
t0=$(date +%s)
log() { echo "[containers +$(( $(date +%s) - t0 ))s] $*" >&2; }

# The project name (and so every volume's name) is made once with the secrets and kept in the env file:
# a volume initialised by another checkout (another clone, an earlier CI run) holds other passwords and
# must never be picked up. An env file from before this rule has no name: its volumes are "sensorhub_*".
project() { local p; p=$(current COMPOSE_PROJECT_NAME); echo "${p:-sensorhub}"; }

compose() {
  "$DOCKER" compose --project-directory compose -f compose/docker-compose.yml -f compose/docker-compose.local.yml \
    --env-file "$ENV_FILE" -p "$(project)" "$@"
}

image() {
  scripts/docker.sh up
  local base=${BASE_IMAGE:-$PYTHON_BASE} start end
  start=$(date +%s.%N)
  log "building sensorhub:local (app/Dockerfile, target runtime, BASE_IMAGE=$base)"
  DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain -f app/Dockerfile --target runtime \
    --build-arg "BASE_IMAGE=$base" --secret "id=build-ca,src=$LOCAL/docker/build-ca.pem" \
    -t sensorhub:local . > "$LOCAL/docker/image-build.log" 2>&1 \
    || { tail -n 40 "$LOCAL/docker/image-build.log" >&2; exit 1; }
  end=$(date +%s.%N)
  local size
  size=$("$DOCKER" image inspect --format '{{.Size}}' sensorhub:local)
  local seconds; seconds=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}')
  printf 'image=sensorhub:local\nbase=%s\nsize_bytes=%s\nbuild_seconds=%s\n' "$base" "$size" "$seconds" > "$REPORT"
  log "sensorhub:local: $(( size / 1000000 )) MB, built in $seconds s (log: $LOCAL/docker/image-build.log)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
current() { if [ -f "$ENV_FILE" ]; then sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1; fi; }

compose_env() {
  mkdir -p "$(dirname "$ENV_FILE")"
  local running=""
  [ -f "$ENV_FILE" ] && running=$(compose ps -q nginx 2>/dev/null || true)
  # Secrets: made once (the database volume keeps the passwords it was initialised with).
  local name key pg app graf grafadmin pgadmin rc
  if [ -f "$ENV_FILE" ]; then name=$(project); else name=sensorhub-$(python3 -c 'import secrets; print(secrets.token_hex(4))'); fi
  key=${SENSORHUB_BOOTSTRAP_ADMIN_KEY:-$(current SENSORHUB_BOOTSTRAP_ADMIN_KEY)}; key=${key:-shk_compose_$(secret)}
  pg=$(current POSTGRES_PASSWORD); pg=${pg:-$(secret)}
  app=$(current APP_DB_PASSWORD); app=${app:-$(secret)}
  graf=$(current GRAFANA_DB_PASSWORD); graf=${graf:-$(secret)}
  grafadmin=$(current GRAFANA_ADMIN_PASSWORD); grafadmin=${grafadmin:-$(secret)}
  pgadmin=$(current PGADMIN_PASSWORD); pgadmin=${pgadmin:-$(secret)}
  rc=$(current REDIS_COMMANDER_PASSWORD); rc=${rc:-$(secret)}
  # Ports: the caller's API_PORT, else the one kept, else the first free one from the default.
  local api prom pga rcp keep
  keep() { local v; v=$(current "$1"); if [ -n "$v" ] && { [ -n "$running" ] || port_free "$v"; }; then echo "$v"; else pick_port "$2"; fi; }
  api=${API_PORT:-$(keep API_PORT 8080)}
  prom=${PROMETHEUS_PORT:-$(keep PROMETHEUS_PORT 9090)}
  pga=${PGADMIN_PORT:-$(keep PGADMIN_PORT 5050)}
  rcp=${REDIS_COMMANDER_PORT:-$(keep REDIS_COMMANDER_PORT 8081)}
  (umask 077; cat > "$ENV_FILE.tmp" <<EOF
# Written by scripts/containers.sh (make compose-up); secrets made once, kept with the volumes.
COMPOSE_PROJECT_NAME=$name
COMPOSE_PROFILES=tools
SENSORHUB_BOOTSTRAP_ADMIN_KEY=$key
POSTGRES_PASSWORD=$pg
APP_DB_PASSWORD=$app
GRAFANA_DB_PASSWORD=$graf
GRAFANA_ADMIN_PASSWORD=$grafadmin
PGADMIN_EMAIL=admin@example.com
PGADMIN_PASSWORD=$pgadmin
REDIS_COMMANDER_USER=admin
REDIS_COMMANDER_PASSWORD=$rc
API_PORT=$api
PROMETHEUS_PORT=$prom
PGADMIN_PORT=$pga
REDIS_COMMANDER_PORT=$rcp
SENSORHUB_BUILD_CA=$LOCAL/docker/build-ca.pem
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE")
}

build() {
  scripts/docker.sh up
  compose_env
  log "docker compose build ${*:-(every service)}"
  compose build "$@" > "$LOCAL/compose/build.log" 2>&1 || { tail -n 60 "$LOCAL/compose/build.log" >&2; exit 1; }
  log "built (log: $LOCAL/compose/build.log)"
}

up() {
  build
  # The caller's API_PORT / admin key win over anything an older env file holds.
  log "docker compose up -d"
  compose up -d --no-build --pull never --remove-orphans >/dev/null 2>"$LOCAL/compose/up.log" \
    || { cat "$LOCAL/compose/up.log" >&2; compose ps -a >&2; compose logs --tail 40 >&2; exit 1; }
  local port; port=$(current API_PORT)
  local deadline=$(( $(date +%s) + ${COMPOSE_UP_TIMEOUT:-300} ))
  ready() {
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
      "http://127.0.0.1:$port/health/ready" 2>/dev/null
  }
  until ready; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      compose ps -a >&2; compose logs --tail 30 >&2
      echo "containers.sh: the API did not become ready through nginx (127.0.0.1:$port) in time" >&2; exit 1
    fi
    sleep 2
  done
  log "ready: http://127.0.0.1:$port (API through nginx), Prometheus http://127.0.0.1:$(current PROMETHEUS_PORT), pgAdmin http://127.0.0.1:$(current PGADMIN_PORT), Redis Commander http://127.0.0.1:$(current REDIS_COMMANDER_PORT); env: $ENV_FILE"
}

down() {
  if [ ! -f "$ENV_FILE" ] || ! "$DOCKER" version >/dev/null 2>&1; then log "no stack to stop"; return 0; fi
  log "docker compose down $*"
  compose down --remove-orphans "$@"
}

case "${1:-}" in
  image) image ;;
  compose-env) compose_env ;;
  build) shift; build "$@" ;;
  up) up ;;
  down) shift; down "$@" ;;
  compose) shift; compose "$@" ;;
  *) echo "usage: $0 image|compose-env|build [SVC...]|up|down [--volumes]|compose ARGS..." >&2; exit 2 ;;
esac
