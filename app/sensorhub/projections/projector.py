"""The projector process: every projection's runner, a LISTEN connection that wakes them,
and a small HTTP server for ``/metrics`` and ``/health/live``.

Any number of projector processes may run: each projection is applied by exactly one of
them at a time (its leader lock), the others stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Sequence

import asyncpg
import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.notify import EVENTS_CHANNEL
from sensorhub.observability import get_logger
from sensorhub.projections import store
from sensorhub.projections.by_name import all_projections
from sensorhub.projections.fanout import Fanout
from sensorhub.projections.runner import ProjectionRunner, RunnerConfig

log = get_logger("sensorhub.projector")


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Projector:
    def __init__(
        self,
        dsn: str,
        redis: aioredis.Redis | None,
        config: RunnerConfig,
        names: Sequence[str] | None = None,
    ) -> None:
        projections = all_projections()
        unknown = sorted(set(names or ()) - set(projections))
        if unknown:
            raise ValueError(f"unknown projection(s) {unknown}; known: {sorted(projections)}")
        fanout = Fanout(redis)
        registry = build_registry()
        self._dsn = dsn
        self.runners = [
            ProjectionRunner(p, dsn=dsn, registry=registry, fanout=fanout, config=config, holder=holder_name())
            for name, p in projections.items()
            if not names or name in names
        ]

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        waker = asyncio.create_task(self._wake_all_on(stop))
        try:
            await asyncio.gather(*(r.run(stop) for r in self.runners))
        finally:
            for task in (listener, waker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _wake_all(self, *_: object) -> None:
        for runner in self.runners:
            runner.wake.set()

    async def _wake_all_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake_all()

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for appends and rebuild requests; on any failure, reconnect (polling covers the gap)."""
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = listening = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": "sensorhub-listen"}
                )
                lost = asyncio.Event()
                listening.add_termination_listener(lambda _c, lost=lost: lost.set())
                await listening.add_listener(EVENTS_CHANNEL, self._wake_all)
                await listening.add_listener(store.REBUILD_CHANNEL, self._wake_all)
                self._wake_all()  # anything appended while we were not listening
                while not stop.is_set() and not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5)
                    if not lost.is_set():
                        await listening.execute("SELECT 1")  # notices a dead socket
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listen connection lost; polling until it is back", error=repr(exc))
                await asyncio.sleep(1)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)


async def serve_operations(host: str, port: int) -> asyncio.Server:
    """``/metrics`` (Prometheus text) and ``/health/live`` for the projector process."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            if path == "/metrics":
                status, content_type, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest()
            elif path == "/health/live":
                status, content_type, body = "200 OK", "application/json", b'{"status":"ok"}'
            else:
                status, content_type, body = "404 Not Found", "text/plain", b"not found\n"
            head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def run_projector(
    dsn: str,
    redis: aioredis.Redis | None,
    config: RunnerConfig,
    *,
    host: str = "0.0.0.0",  # noqa: S104 - scraped by Prometheus from outside the pod
    port: int = 0,
    names: Sequence[str] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT: the current batch of each projection finishes, then locks are released."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await serve_operations(host, port) if port else None
    projector = Projector(dsn, redis, config, names)
    log.info("projector started", projections=[r.name for r in projector.runners], port=port or None)
    try:
        await projector.run(stop)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        log.info("projector stopped")
