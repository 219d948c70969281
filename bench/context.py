"""What every row gets: a fresh migrated database on one engine's server, a pool, the sizes."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sensorhub import migrations
from sensorhub.db import connect, init_connection

from bench.core import Sizes


@dataclass
class Context:
    engine: str
    server_url: str
    url: str
    pool: asyncpg.Pool  # as the service configures it (json codecs)
    raw_pool: asyncpg.Pool  # no codecs: binary COPY of jsonb as text
    sizes: Sizes
    run_id: str


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def prepare_schema(url: str) -> None:
    """Migrations, plus the engine-specific time-series tables when that code is present."""
    conn = await connect(url)
    try:
        await migrations.apply(conn)
        try:
            from sensorhub.timeseries import engines  # type: ignore[attr-defined]
        except ImportError:
            return
        ensure = getattr(engines, "ensure_schema", None) or getattr(engines, "ensure_readings", None)
        if ensure is not None:
            await ensure(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def database(engine: str, server_url: str, sizes: Sizes, *, keep: bool = False) -> AsyncIterator[Context]:
    run_id = f"{os.getpid()}_{int(time.time())}"
    name = f"bench_{run_id}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    try:
        await prepare_schema(url)
        pool = await asyncpg.create_pool(url, min_size=4, max_size=40, init=init_connection, command_timeout=600)
        raw_pool = await asyncpg.create_pool(url, min_size=1, max_size=8, command_timeout=600)
        try:
            yield Context(engine, server_url, url, pool, raw_pool, sizes, run_id)
        finally:
            await raw_pool.close()
            await pool.close()
    finally:
        if not keep:
            admin = await asyncpg.connect(server_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def server_settings(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        out: dict[str, Any] = {}
        for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
                     "shared_buffers", "max_wal_size", "checkpoint_timeout", "shared_preload_libraries"):
            out[name] = await conn.fetchval(f"SHOW {name}")
        out["timescaledb"] = await conn.fetchval(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ) if "timescaledb" in out["shared_preload_libraries"] else None
        return out
    finally:
        await conn.close()


def machine_info() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
            mem_gib = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    import asyncpg as apg

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "asyncpg": apg.__version__,
        "load_average": os.getloadavg(),
    }
