"""Wake projectors after appends commit: a coalesced ``NOTIFY sensorhub_events`` per process.

Sent after the append committed, on a pooled connection outside any transaction: a ``NOTIFY``
inside the append would hold a database-wide lock through its commit and serialise appends.
At most one per ``interval_s``; fire-and-forget (the projector's polling covers a lost one).
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from sensorhub.observability import get_logger

EVENTS_CHANNEL = "sensorhub_events"
log = get_logger("sensorhub.eventstore")


class AppendNotifier:
    """Call ``committed(position)`` once an append's transaction has committed."""

    def __init__(self, pool: asyncpg.Pool, *, interval_s: float = 0.005, acquire_timeout_s: float = 2.0) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._acquire_timeout_s = acquire_timeout_s
        self._pending: int | None = None  # highest committed position not yet notified
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def committed(self, position: int | None = None) -> None:
        """Schedule a notification (sent at once when none was sent in the last interval)."""
        if self._closed:
            return
        pending = position if position is not None else 0
        self._pending = pending if self._pending is None else max(self._pending, pending)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_pending())

    async def _send_pending(self) -> None:
        while self._pending is not None and not self._closed:
            position, self._pending = self._pending, None
            try:
                async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                    await conn.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, str(position))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never fails a command; polling covers a lost notification
                log.warning("append notification not sent", error=repr(exc))
            await asyncio.sleep(self._interval_s)  # coalesce whatever commits meanwhile

    async def aclose(self) -> None:
        """Send what is pending (best effort), then stop."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 2)
            task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._closed = True
