#!/usr/bin/env bash
# Run checkov from its own virtualenv (it pins an older `packaging` than the project's tools).
# Usage: scripts/checkov.sh [checkov arguments...]   e.g. scripts/checkov.sh -d .local/manifests
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
VENV="${CHECKOV_VENV:-$ROOT/.local/checkov-venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [[ ! -x "$VENV/bin/checkov" ]] || ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
    echo "checkov.sh: creating $VENV with checkov==$CHECKOV_VERSION (first run only)" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
            >"$VENV.install.log" 2>&1; then
        cat "$VENV.install.log" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

# --skip-download: no policy/metadata downloads from the Prisma platform; everything runs offline.
exec "$VENV/bin/checkov" --skip-download --quiet --compact "$@"
