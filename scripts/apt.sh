#!/usr/bin/env bash
# apt.sh — apt-get that waits while another apt-get or dpkg holds the lock, instead of failing
# (two provisioning runs at once, or unattended upgrades). Gives up after APT_LOCK_WAIT seconds (600).
#
#   scripts/apt.sh update -qq
#   scripts/apt.sh install -y -qq --no-install-recommends PACKAGE...
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
deadline=$(( $(date +%s) + ${APT_LOCK_WAIT:-600} ))
err=$(mktemp)
trap 'rm -f "$err"' EXIT
while :; do
  # DPkg::Lock::Timeout covers dpkg's lock; the package lists' lock (apt-get update) is retried here.
  if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 "$@" 2>"$err"; then
    cat "$err" >&2
    exit 0
  else
    status=$?
  fi
  if grep -q "Could not get lock" "$err" && [ "$(date +%s)" -lt "$deadline" ]; then
    echo "[apt] another apt-get or dpkg holds the lock; waiting for it" >&2
    sleep 5
    continue
  fi
  cat "$err" >&2
  exit "$status"
done
