#!/usr/bin/env bash
# pg17-rootfs.sh — PostgreSQL 17 + TimescaleDB (Apache-2 edition) on a Debian 12 host.
#
# Production runs PostgreSQL 17; Debian 12 (bookworm) ships only 15, and Debian
# 13's (trixie) source packages are not downloadable here, its binary packages
# are. So: a minimal trixie root filesystem (debootstrap), Debian's own
# `postgresql-17` and `postgresql-17-timescaledb` (Apache-only) installed into it
# with apt, and the PostgreSQL executables patched (patchelf) to load trixie's
# dynamic loader and libraries from that root. They then run directly on the
# host: no chroot, no mounts, no privileges at run time; data directories,
# sockets and logs stay wherever the caller puts them. Small wrapper scripts in
# <cache>/bin set the locale and gconv paths to the root's and are what
# SENSORHUB_TEST_PG_BIN points at. See docs/postgres.md.
#
#   scripts/pg17-rootfs.sh ensure   build the cache entry if missing (root or sudo), print its bin directory
#   scripts/pg17-rootfs.sh bindir   print the bin directory (exit 1 if not built)
#   scripts/pg17-rootfs.sh info     the cache entry, its package versions
#   scripts/pg17-rootfs.sh reset    remove every cache entry (refuses while a server runs from one)
#
# The cache is shared by every checkout and CI job on the machine
# (SENSORHUB_PG_CACHE, default /var/cache/sensorhub): about 500 MB and 45 s to 2 min
# to build here, read-only afterwards. An entry's name carries a hash of the recipe
# below, so a changed recipe builds a new entry next to the old one.
set -euo pipefail

CACHE=${SENSORHUB_PG_CACHE:-/var/cache/sensorhub}
SUITE=trixie
PACKAGES="postgresql-17 postgresql-17-timescaledb"
RECIPE_REV=1   # bump when the build steps below change
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "$RECIPE_REV" | sha256sum | cut -c1-12)
ENTRY=$CACHE/pg17-$SUITE-$KEY
ROOT=$ENTRY/rootfs
PGLIB=/usr/lib/postgresql/17
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
log() { echo "[pg17-rootfs] $*" >&2; }

debian_mirror() {
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "pg17-rootfs: no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$mirror"
}

host_tools() {
  local missing="" p
  for p in debootstrap patchelf; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  log "apt-get install$missing"
  "$(dirname "$0")/apt.sh" update -qq
  # shellcheck disable=SC2086
  "$(dirname "$0")/apt.sh" install -y -qq --no-install-recommends $missing >/dev/null
}

# remove DIR: debootstrap mounts /proc, /sys (and in a container binds /dev
# nodes) inside the root while it works; an interrupted build may leave them.
remove_tree() {
  local m
  awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    $SUDO umount -l "$m"
  done
  $SUDO rm -rf --one-file-system "$1"
}

build() {
  host_tools
  local mirror blog=$ENTRY.build.log
  mirror=$(debian_mirror)
  remove_tree "$ENTRY"
  $SUDO install -d -m 0755 "$ENTRY"
  log "debootstrap $SUITE (minbase) into $ROOT — about a minute; log: $blog"
  {
    $SUDO debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" &&
    # No service starts and no `main` cluster inside the root: it only provides binaries.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$ROOT/usr/sbin/policy-rc.d" >/dev/null &&
    $SUDO chmod 0755 "$ROOT/usr/sbin/policy-rc.d" &&
    $SUDO install -d "$ROOT/etc/postgresql-common" &&
    echo "create_main_cluster = false" | $SUDO tee "$ROOT/etc/postgresql-common/createcluster.conf" >/dev/null &&
    # shellcheck disable=SC2086
    $SUDO chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -ec \
      "apt-get update -qq; apt-get install -y -qq --no-install-recommends $PACKAGES; apt-get clean; rm -rf /var/lib/apt/lists/*"
  } > "$blog" 2>&1 || { tail -n 40 "$blog" >&2; exit 1; }
  # Refuse a TimescaleDB build that carries the TSL (Timescale License) module.
  if ls "$ROOT$PGLIB/lib/" | grep -q '^timescaledb-tsl'; then
    echo "pg17-rootfs: $SUITE's TimescaleDB package ships the TSL module; expected the Apache-only build" >&2; exit 1
  fi
  log "patching the executables to use the root's loader and libraries"
  local f rpath="$ROOT$PGLIB/lib:$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu"
  for f in "$ROOT$PGLIB"/bin/*; do
    [ "$(head -c4 "$f" | tr -d '\0')" = $'\x7fELF' ] || continue
    $SUDO patchelf --set-interpreter "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
      --force-rpath --set-rpath "$rpath" "$f"
  done
  $SUDO install -d -m 0755 "$ENTRY/bin"
  for f in "$ROOT$PGLIB"/bin/*; do
    printf '#!/bin/sh\n# scripts/pg17-rootfs.sh: PostgreSQL 17 from the %s root, run on the host\nLOCPATH=%s GCONV_PATH=%s\nexport LOCPATH GCONV_PATH\nexec %s "$@"\n' \
      "$SUITE" "$ROOT/usr/lib/locale" "$ROOT/usr/lib/x86_64-linux-gnu/gconv" "$f" \
      | $SUDO tee "$ENTRY/bin/$(basename "$f")" >/dev/null
    $SUDO chmod 0755 "$ENTRY/bin/$(basename "$f")"
  done
  "$ENTRY/bin/postgres" -V >/dev/null || { echo "pg17-rootfs: the patched postgres does not run" >&2; exit 1; }
  $SUDO chroot "$ROOT" dpkg-query -W -f='${Package} ${Version}\n' $PACKAGES libc6 \
    | $SUDO tee "$ENTRY/versions" >/dev/null
  $SUDO touch "$ENTRY/ready"
  log "ready: $(tr '\n' ' ' < "$ENTRY/versions")"
}

ensure() {
  if [ ! -f "$ENTRY/ready" ]; then
    $SUDO install -d -m 0755 "$CACHE"
    [ -e "$CACHE/pg17.lock" ] || $SUDO install -m 0666 /dev/null "$CACHE/pg17.lock"
    # Several checkouts may provision at once: one builds, the others wait for it.
    exec 9<>"$CACHE/pg17.lock"
    flock 9
    [ -f "$ENTRY/ready" ] || build
    exec 9>&-
  fi
  echo "$ENTRY/bin"
}

case "${1:-}" in
  ensure) ensure ;;
  bindir) [ -f "$ENTRY/ready" ] || { echo "pg17-rootfs: not built ($ENTRY); run: $0 ensure" >&2; exit 1; }
          echo "$ENTRY/bin" ;;
  info)
    echo "entry:  $ENTRY ($([ -f "$ENTRY/ready" ] && echo ready || echo 'not built'))"
    [ -f "$ENTRY/versions" ] && sed 's/^/        /' "$ENTRY/versions"
    du -sh "$CACHE"/pg17-* 2>/dev/null || true ;;
  reset)
    for exe in /proc/[0-9]*/exe; do
      case "$(readlink "$exe" 2>/dev/null)" in
        "$CACHE"/pg17-*) echo "pg17-rootfs: pid $(basename "$(dirname "$exe")") runs from the cache; stop the servers first (make stop)" >&2
                         exit 1 ;;
      esac
    done
    log "removing $CACHE/pg17-*"
    for entry in "$CACHE"/pg17-*; do remove_tree "$entry"; done ;;
  *) echo "usage: $0 ensure|bindir|info|reset" >&2; exit 2 ;;
esac
