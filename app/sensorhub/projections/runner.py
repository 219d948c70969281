"""One projection, run under its leader lock.

The runner holds a dedicated PostgreSQL session. On it, it takes the projection's session
advisory lock (``pg_try_advisory_lock``); whoever holds it is the leader, the others retry
every ``lock_retry_s``. The leader applies every batch *on that same session*, so if its
process dies or freezes, its session ends (socket closed, TCP keepalives,
``idle_session_timeout``), the lock is released and no half-done batch survives: a standby
takes over within about ``lock_retry_s``.

A batch: read the checkpoint, read up to ``batch_size`` events (``rebuild_batch_size`` while
the previous batch came back full) after it from the gap-safe feed, fold them into the live
generation's tables, advance the checkpoint (fenced on its old value) — one transaction.
Effects (SSE fan-out, cache stamp) follow the commit.

Rebuild: when requested, the leader creates generation N+1 and, between live batches, replays
the feed into it from position zero with no effects. Once its checkpoint has reached the live
one, the views are pointed at it in one transaction and generation N is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from sensorhub.application.ports import SubjectKeys
from sensorhub.application.stored_events import RecordedEvent
from sensorhub.db import Conn, init_connection
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.eventstore.feed import read_feed
from sensorhub.eventstore.horizon import STALL_AFTER_S, HorizonWatch
from sensorhub.eventstore.personal_data import reveal_records, sealed_with
from sensorhub.observability import (
    OPEN_ALERTS,
    PROJECTION_EVENTS_APPLIED,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    get_logger,
)
from sensorhub.projections import queries, store
from sensorhub.projections.fanout import Fanout
from sensorhub.projections.model import Effects, Projection
from sensorhub.projections.rows import loads

log = get_logger("sensorhub.projections")


@dataclass(frozen=True)
class RunnerConfig:
    batch_size: int = 500
    rebuild_batch_size: int = 2000
    poll_interval_s: float = 1.0  # fallback when a notification is lost
    lock_retry_s: float = 0.5
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 30.0
    idle_session_timeout_s: float = 20.0  # the server ends a frozen leader's session (and lock)
    horizon_stall_s: float = STALL_AFTER_S  # an open writer this old is logged (eventstore.horizon)
    # The subjects' keys on the batch's connection, to open personal data (None: a batch that carries
    # sealed personal data fails, and is retried, rather than be projected as erased).
    subject_keys: Callable[[Conn], SubjectKeys] | None = None


class ProjectionRunner:
    def __init__(
        self,
        projection: Projection,
        *,
        dsn: str,
        registry: EventTypeRegistry,
        fanout: Fanout,
        config: RunnerConfig,
        holder: str,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.wake = asyncio.Event()
        self.leading = False
        self._dsn = dsn
        self._registry = registry
        self._fanout = fanout
        self._config = config
        self._holder = holder
        self._horizon = HorizonWatch(log.bind(projection=projection.name), stall_after_s=config.horizon_stall_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: stand by, lead when the lock is free, reconnect after failures."""
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                while not stop.is_set():
                    if await store.try_lead(conn, self.name):
                        await self._lead(conn, stop)
                        break
                    await self._sleep(stop, self._config.lock_retry_s)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                log.warning("projection session lost", projection=self.name, error=repr(exc))
                await self._sleep(stop, self._config.lock_retry_s)
            except Exception:
                log.exception("projection failed; retrying", projection=self.name)
                await self._sleep(stop, max(self._config.poll_interval_s, 1.0))
            finally:
                if self.leading:
                    log.info("leadership released", projection=self.name)
                self.leading = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=5,
            server_settings={
                "application_name": f"sensorhub-projector:{self.name}",
                "idle_session_timeout": str(int(self._config.idle_session_timeout_s * 1000)),
                "tcp_keepalives_idle": "5",
                "tcp_keepalives_interval": "2",
                "tcp_keepalives_count": "3",
            },
        )
        await init_connection(conn, decode=loads)
        return conn

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        self.leading = True
        log.info("leading projection", projection=self.name, holder=self._holder)
        next_heartbeat = 0.0
        quick_retries = 0
        behind = False
        while not stop.is_set():
            self.wake.clear()
            if time.monotonic() >= next_heartbeat:
                await self._heartbeat(conn)
                next_heartbeat = time.monotonic() + self._config.heartbeat_interval_s
            gens = await store.generations(conn, self.name)
            shadow = gens.shadow
            if gens.rebuild_requested and shadow is None:
                shadow = await store.start_shadow(conn, self.name)
                log.info("rebuild started", projection=self.name, generation=shadow)
            limit = self._live_limit(behind)
            applied = await self._batch(conn, gens.live, live=True, limit=limit)
            behind = applied >= limit
            if shadow is not None:
                replayed = await self._batch(conn, shadow, live=False, limit=self._config.rebuild_batch_size)
                if replayed < self._config.rebuild_batch_size:
                    await self._try_swap(conn)
                continue
            if behind:
                continue
            if applied == 0 and quick_retries > 0:
                # woken by a notification but nothing readable yet: an older transaction still
                # holds the feed's horizon back; look again shortly rather than at the next poll
                quick_retries -= 1
                await self._sleep(stop, 0.02)
                continue
            woken = await self._wait(
                stop, max(0.0, min(self._config.poll_interval_s, next_heartbeat - time.monotonic()))
            )
            quick_retries = 5 if woken else 0

    def _live_limit(self, behind: bool) -> int:
        """Live batches are small, so changes go out promptly; once a batch comes back full the
        projection is behind (a restart, a burst) and batches grow to the rebuild size until it
        has caught up: per-batch costs (round trips, commit, fan-out call) amortise over more
        events. Every event still yields its effects, after its batch commits."""
        return max(self._config.batch_size, self._config.rebuild_batch_size) if behind else self._config.batch_size

    async def _batch(self, conn: asyncpg.Connection, generation: int, *, live: bool, limit: int) -> int:
        effects = Effects() if live else None
        async with conn.transaction():
            checkpoint = await store.checkpoint(conn, self.name, generation)
            records = await read_feed(conn, checkpoint.cursor, limit)
            if not records:
                return 0
            events = await self._reveal(conn, [self._registry.upcast_record(r) for r in records])
            await self.projection.apply(conn, generation, events, effects)
            cursor = events[-1].cursor
            await store.advance(conn, self.name, generation, old=checkpoint.cursor, new=cursor, count=len(events))
            log.debug(
                "batch applied", projection=self.name, generation=generation, count=len(events),
                after=str(checkpoint.cursor), to=str(cursor), applied_before=checkpoint.events_applied,
            )
            if effects is not None:
                await self._fanout.in_transaction(conn, effects)
        if effects is not None:
            PROJECTION_EVENTS_APPLIED.labels(projection=self.name).inc(len(events))
            await self._fanout.after_commit(self.name, generation, cursor, effects)
        return len(events)

    async def _reveal(self, conn: asyncpg.Connection, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """Personal data opened with the subjects' keys, or erased (eventstore.personal_data)."""
        if not any(sealed_with(e.data) for e in events):
            return events
        if self._config.subject_keys is None:
            raise RuntimeError("events carry personal data, and this projector has no subject keys to open it")
        return await reveal_records(events, self._config.subject_keys(conn))

    async def _try_swap(self, conn: asyncpg.Connection) -> None:
        retired = await store.swap_if_caught_up(conn, self.name)
        if retired is None:
            return
        await self._fanout.forget_stamp(self.name)
        await store.drop_generation(conn, self.name, retired)
        log.info("rebuild swapped in", projection=self.name, retired_generation=retired)

    async def _heartbeat(self, conn: asyncpg.Connection) -> None:
        await store.heartbeat(conn, self.name, self._holder)
        gens = await store.generations(conn, self.name)
        checkpoint = await store.checkpoint(conn, self.name, gens.live)
        await self._fanout.refresh_stamp(self.name, gens.live, checkpoint.cursor)
        for status in await store.status(conn, self._config.heartbeat_timeout_s, self.name):
            PROJECTION_LAG_EVENTS.labels(projection=self.name).set(status.lag_events)
            PROJECTION_LAG_SECONDS.labels(projection=self.name).set(status.lag_seconds)
        await self._horizon.observe(conn)
        if self.name == "registry":
            for severity, count in (await queries.open_alerts_by_severity(conn)).items():
                OPEN_ALERTS.labels(severity=severity).set(count)

    async def _wait(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep until a notification, ``stop`` or ``seconds``; True when woken by a notification."""
        if stop.is_set():
            return False
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            return False
        return not stop.is_set()

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
