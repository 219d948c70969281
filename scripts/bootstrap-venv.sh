#!/usr/bin/env bash
# bootstrap-venv.sh VENV — create the virtualenv and install requirements.lock into it.
set -euo pipefail
venv=${1:-.venv}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "[venv] installing python3-venv" >&2
  "$(dirname "$0")/apt.sh" update -qq && "$(dirname "$0")/apt.sh" install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[venv] creating $venv" >&2
  python3 -m venv "$venv"
fi
if [ ! -x "$venv/bin/uv" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'uv>=0.5,<1'
fi
echo "[venv] installing locked dependencies" >&2
"$venv/bin/uv" pip sync -q --python "$venv/bin/python" requirements.lock
"$venv/bin/uv" pip install -q --python "$venv/bin/python" --no-deps -e .
echo "[venv] ready: $venv" >&2
