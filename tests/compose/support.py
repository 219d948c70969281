"""What the compose tests share: the compose files as data, .env.example values, and the tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
BASE = COMPOSE / "docker-compose.yml"
OVERRIDE = COMPOSE / "docker-compose.override.yml"
LOCAL = COMPOSE / "docker-compose.local.yml"  # local builds where no registry answers
COMPOSE_FILES = (BASE, OVERRIDE, LOCAL)
DOCKERFILE = ROOT / "app" / "Dockerfile"
INSTALL_HINT = "run scripts/install-test-tools.sh (CI and `make test` provision it)"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@cache
def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def services(path: Path = BASE) -> dict[str, dict[str, Any]]:
    return load(path)["services"]


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in (COMPOSE / ".env.example").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from ``env`` (as `docker compose` would)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in env and (env[name] or not (op or "").startswith(":")):
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} is required ({arg}) and .env.example does not set it")
        return ""

    return _INTERPOLATION.sub(one, value)


def variables_used(text: str) -> dict[str, str | None]:
    """Each ${VAR} in ``text`` and its operator (None: plain)."""
    return {m["name"]: m["op"] for m in _INTERPOLATION.finditer(text)}


def is_sensorhub(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return (isinstance(build, dict) and build.get("dockerfile") == "app/Dockerfile") or str(
        service.get("image", "")
    ).startswith("sensorhub:")


def tool(name: str) -> str:
    """The path of a required command-line tool; a missing one fails the test (never skips)."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name), Path("/usr/sbin") / name):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail(f"`{name}` is not installed: {INSTALL_HINT}", pytrace=False)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instruction lines (continuations joined), from app/Dockerfile."""
    if not DOCKERFILE.exists():
        pytest.fail("app/Dockerfile does not exist: compose builds every sensorhub service from it", pytrace=False)
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"(?i)FROM\s+\S+(?:\s+AS\s+(\S+))?", stripped)
        if match:
            current = stages.setdefault(match[1] or f"stage{len(stages)}", [])
        elif current is not None:
            current.append(stripped)
    return stages
