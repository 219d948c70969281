"""Shared fixtures: real PostgreSQL clusters (TimescaleDB Apache edition and plain
PostgreSQL) and a real Redis, started by ``scripts/provision.sh test``.

Each test that asks for a database gets a fresh one, cloned from a migrated
template (``CREATE DATABASE ... TEMPLATE``, a few tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sensorhub import migrations
from sensorhub.db import connect

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("timescaledb", "postgres")
_ENV_KEYS = {"timescaledb": "SENSORHUB_TEST_TSDB_URL", "postgres": "SENSORHUB_TEST_PLAIN_URL"}


def _load_test_env() -> None:
    env_file = ROOT / ".local" / "test.env"
    if not env_file.exists():
        return
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key and not key.startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())


_load_test_env()


def server_url(engine: str) -> str:
    try:
        return os.environ[_ENV_KEYS[engine]]
    except KeyError:
        pytest.fail(
            f"{_ENV_KEYS[engine]} is not set and .local/test.env is missing: run `make test` "
            "(or scripts/provision.sh test) to start the private test clusters",
            pytrace=False,
        )


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


_counter = itertools.count()
_templates: dict[str, str] = {}
_RUN = str(os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _admin(engine: str) -> asyncpg.Connection:
    return await asyncpg.connect(server_url(engine))


async def template_for(engine: str) -> str:
    """A migrated template database on the engine's cluster, built once per session."""
    if engine in _templates:
        return _templates[engine]
    name = f"sensorhub_tpl_{_RUN}"
    admin = await _admin(engine)
    try:
        # Databases left by earlier runs whose process is gone (several runs may share a cluster).
        leftovers = await admin.fetch("SELECT datname FROM pg_database WHERE datname ~ '^sensorhub_t(pl_)?[0-9]+'")
        for row in leftovers:
            pid = int(re.match(r"^sensorhub_t(?:pl_)?(\d+)", row["datname"])[1])  # type: ignore[index]
            if not _alive(pid):
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await connect(with_database(server_url(engine), name))
    try:
        await migrations.apply(conn)
        if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"):
            # TimescaleDB's scheduler keeps a session on every database that has the
            # extension, and a template must have none.
            await conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    finally:
        await conn.close()
    admin = await _admin(engine)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()
    _templates[engine] = name
    return name


async def fresh_database(engine: str) -> str:
    template = await template_for(engine)
    name = f"sensorhub_t{_RUN}_{next(_counter)}"
    admin = await _admin(engine)
    try:
        for attempt in range(50):
            try:
                await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except asyncpg.ObjectInUseError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return with_database(server_url(engine), name)


async def drop_database(url: str, engine: str) -> None:
    name = url.rpartition("/")[2]
    admin = await _admin(engine)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh, migrated database on the TimescaleDB cluster."""
    url = await fresh_database("timescaledb")
    yield url
    await drop_database(url, "timescaledb")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over every time-series engine this machine runs."""
    return str(request.param)


@pytest.fixture
async def engine_database_url(engine: str) -> AsyncIterator[str]:
    """A fresh, migrated database on the cluster of ``engine``."""
    url = await fresh_database(engine)
    yield url
    await drop_database(url, engine)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    from sensorhub.db import init_connection

    p = await asyncpg.create_pool(database_url, min_size=1, max_size=10, init=init_connection)
    yield p
    await p.close()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("SENSORHUB_TEST_REDIS_URL")
    if not url:
        pytest.fail("SENSORHUB_TEST_REDIS_URL is not set: run `make test`", pytrace=False)
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
