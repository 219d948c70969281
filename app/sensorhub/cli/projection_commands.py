"""What ``sensorhub projector`` and ``sensorhub rebuild`` do (the CLI only parses options)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from sensorhub.db import Conn, connect
from sensorhub.eventstore.key_wrappers import key_wrapper
from sensorhub.eventstore.subject_keys import KeyCache, PostgresSubjectKeys
from sensorhub.observability import get_logger
from sensorhub.projections import store
from sensorhub.projections.projector import Projector, run_projector
from sensorhub.projections.runner import RunnerConfig
from sensorhub.runtime import connect_redis
from sensorhub.settings import Settings

log = get_logger("sensorhub.projector")


def runner_config(settings: Settings) -> RunnerConfig:
    wrapper, cache = key_wrapper(settings), KeyCache(settings.key_cache_ttl_s)

    def subject_keys(conn: Conn) -> PostgresSubjectKeys:
        return PostgresSubjectKeys(conn, wrapper, cache)

    return RunnerConfig(
        batch_size=settings.projection_batch_size,
        rebuild_batch_size=4 * settings.projection_batch_size,
        poll_interval_s=settings.projector_poll_interval_s,
        heartbeat_interval_s=min(1.0, settings.projector_heartbeat_timeout_s / 3),
        heartbeat_timeout_s=settings.projector_heartbeat_timeout_s,
        subject_keys=subject_keys,
    )


async def projector(settings: Settings, *, port: int, names: Sequence[str] | None) -> None:
    redis = await connect_redis(settings)
    try:
        await run_projector(settings.database_url, redis, runner_config(settings), port=port, names=names)
    finally:
        if redis is not None:
            await redis.aclose()


async def rebuild(settings: Settings, name: str, *, wait: bool, timeout_s: float) -> str:
    """Request a rebuild; with ``wait``, also take part (lead it if no projector does) until swapped in."""
    conn = await connect(settings.database_url)
    try:
        before = await store.rebuilt_at(conn, name)
        if not await store.request_rebuild(conn, name):
            raise ValueError(f"no projection named {name!r}; known: {', '.join(await store.names(conn))}")
        if not wait:
            return "requested; the projector rebuilds it in the background"
        redis = await connect_redis(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(Projector(settings.database_url, redis, runner_config(settings), [name]).run(stop))
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and not task.done():
                swapped = await store.swapped_in_since(conn, name, before)
                if swapped is not None:
                    return f"rebuilt and swapped in at {swapped.isoformat()}"
                await asyncio.sleep(0.2)
            raise TimeoutError(f"{name} was not rebuilt within {timeout_s:.0f}s; it continues in the background")
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task
            if redis is not None:
                await redis.aclose()
    finally:
        await conn.close()
