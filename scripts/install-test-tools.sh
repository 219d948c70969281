#!/usr/bin/env bash
# install-test-tools.sh — the Debian tools tests/compose/ runs: `nginx -t` (nginx)
# and `promtool check` (prometheus). Idempotent: with both installed it returns at once.
# The packages' services are never started (policy-rc.d refuses while we install).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

packages=(nginx prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  # Keep the packages' post-install scripts from starting nginx on :80 and Prometheus on :9090.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

echo "[test-tools] apt-get install ${missing[*]}" >&2
"$(dirname "$0")/apt.sh" update -qq
"$(dirname "$0")/apt.sh" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[test-tools] ready: $(/usr/sbin/nginx -v 2>&1), $(promtool --version 2>&1 | head -1)" >&2
