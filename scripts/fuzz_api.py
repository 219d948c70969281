"""Schemathesis against the running service: every check, every phase (examples, coverage,
fuzzing, stateful), within a time budget. Exit status is schemathesis's (0: no failure).

    .venv/bin/python scripts/fuzz_api.py [--max-time 300] [extra schemathesis options]

Needs the test clusters (``make provision-test``); ``make fuzz-api`` runs both. The service gets a
fresh database on the TimescaleDB test cluster, the test Redis, a 1 s alert-stream lifetime (each
fuzzed call to the never-ending SSE endpoint then costs about a second) and a 0.2 s read wait (most
fuzzed ``X-Min-Position`` values name no event yet: the read waits, then answers ``X-Stale``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.service import Service  # noqa: E402

PHASES = "examples,coverage,fuzzing,stateful"
CONFIG = ROOT / "tests" / "security" / "schemathesis.toml"
HOOKS = "tests.security.fuzz_hooks"  # a fresh Idempotency-Key per creation: see the module


def _env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        env_file = ROOT / ".local" / "test.env"
        for line in env_file.read_text().splitlines() if env_file.exists() else []:
            key, _, found = line.partition("=")
            if key.strip() == name:
                value = found.strip()
    if not value:
        sys.exit(f"{name} is not set: run `make provision-test` first")
    return value


async def _database(server: str, name: str, *, drop: bool) -> str:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{server.rpartition('/')[0]}/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-time", type=int, default=300, help="time budget of the whole run, in seconds")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (the same seed replays the same run)")
    args, extra = parser.parse_known_args()
    server, redis_url = _env("SENSORHUB_TEST_TSDB_URL"), _env("SENSORHUB_TEST_REDIS_URL")
    name = f"sensorhub_fuzz_{os.getpid()}"
    url = asyncio.run(_database(server, name, drop=False))
    log_file = Path(tempfile.gettempdir()) / f"{name}.log"
    service = Service(url, redis_url=redis_url, log_file=log_file, sse_max_duration_s="1", read_wait_timeout_s="0.2")
    try:
        service.start()
        command = [
            str(ROOT / ".venv" / "bin" / "schemathesis"),
            f"--config-file={CONFIG}",
            "run",
            f"{service.base_url}/schema/openapi.json",
            "--checks=all",
            f"--phases={PHASES}",
            f"--max-time={args.max_time}",
            "--request-timeout=10",
            f"--seed={args.seed}",
            f"--header=Authorization: Bearer {service.admin_key}",
            *extra,
        ]
        print("$", " ".join(c if "Bearer" not in c else "--header='Authorization: Bearer …'" for c in command))
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        hooks = {"SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": path}
        return subprocess.run(command, check=False, env={**os.environ, **hooks}).returncode
    finally:
        service.stop()
        asyncio.run(_database(server, name, drop=True))
        print(f"service log: {log_file}")


if __name__ == "__main__":
    sys.exit(main())
