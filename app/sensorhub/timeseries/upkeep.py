"""Upkeep after the ingest commit: ``latest_readings`` and the rollup marks (``rollup_dirty``).

An ingest transaction writes its readings and one ``ingest_upkeep`` row (the newest reading per
series it inserted, and the (series, hour) pairs it inserted into); ``drain`` applies pending rows
and deletes them in one transaction. So, for every acknowledged batch:

* readings, alerts and site counts of readings are committed with the batch (unchanged);
* latest values: ``latest_readings_now`` (the view every read uses) merges the pending rows, so a
  read sees the batch whether or not it has been drained;
* rollups: a query treats an hour named by a pending row as dirty (computed from raw rows), as it
  does an hour marked in ``rollup_dirty``.

A crash between the commit and the drain loses nothing: the row stays until a drain commits (the
ingest process drains after its commits, the maintenance job at the start of every run). A drain
is idempotent: a latest value only moves forward in time, a mark is a set member (an unclaimed
mark is left alone; a claimed one is bumped, see ``rollups.py``), and a row is deleted in
the transaction that applied it, so a killed drain rolls back whole and nothing is applied twice.
Marks made after the readings' commit are safe for rollups: a recompute that ran before the mark
either saw the readings or is followed by a new mark (and the pending row kept the hour dirty
for queries meanwhile).
"""

from __future__ import annotations

import asyncio

import asyncpg

from sensorhub.db import Conn
from sensorhub.observability import get_logger

log = get_logger("sensorhub.ingest.upkeep")

# Pending rows, oldest first, skipping rows another drain holds; each series' newest value is
# written only where it is newer than the stored one (no row lock or rewrite otherwise), the
# marks in a fixed order.
_DRAIN = """
WITH taken AS (
    DELETE FROM ingest_upkeep
    WHERE id IN (SELECT id FROM ingest_upkeep ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING latest_devices, latest_metrics, latest_times, latest_values, hour_devices, hour_metrics, hours
), newest AS (
    SELECT DISTINCT ON (u.device_id, u.metric) u.device_id, u.metric, u.time, u.value
    FROM taken t
    CROSS JOIN LATERAL unnest(t.latest_devices, t.latest_metrics, t.latest_times, t.latest_values)
        AS u(device_id, metric, time, value)
    ORDER BY u.device_id, u.metric, u.time DESC
), updated AS (
    -- A plain update where the series has a row (one HOT update, no speculative insertion and
    -- row lock as ``ON CONFLICT`` takes): drains run one at a time (``DRAIN_LOCK``), so no two
    -- update the same rows in different orders.
    UPDATE latest_readings l SET time = n.time, value = n.value
    FROM newest n
    WHERE l.device_id = n.device_id AND l.metric = n.metric AND n.time > l.time
    RETURNING 1
), added AS (
    INSERT INTO latest_readings AS l (device_id, metric, time, value)
    SELECT n.device_id, n.metric, n.time, n.value
    FROM newest n
    WHERE NOT EXISTS (SELECT 1 FROM latest_readings o WHERE o.device_id = n.device_id AND o.metric = n.metric)
    ORDER BY n.device_id, n.metric
    ON CONFLICT (device_id, metric) DO UPDATE SET time = excluded.time, value = excluded.value
    WHERE excluded.time > l.time
    RETURNING 1
), marks AS (
    -- A mark unclaimed (odd) in this statement's snapshot is left alone, not even locked: the
    -- readings committed before the snapshot, and a claim of the mark commits after it, so the
    -- recompute that follows the claim sees them. A missing mark is made; a claimed (even) one is
    -- bumped so the recompute that claimed it (whose snapshot may predate the readings) keeps it.
    INSERT INTO rollup_dirty AS d (device_id, metric, bucket)
    SELECT DISTINCT u.device_id, u.metric, u.bucket
    FROM taken t
    CROSS JOIN LATERAL unnest(t.hour_devices, t.hour_metrics, t.hours) AS u(device_id, metric, bucket)
    WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty o
                      WHERE o.device_id = u.device_id AND o.metric = u.metric AND o.bucket = u.bucket
                        AND o.generation % 2 = 1)
    ORDER BY 1, 2, 3
    ON CONFLICT (device_id, metric, bucket) DO UPDATE SET generation = d.generation + 1
    WHERE d.generation % 2 = 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken) AS batches,
       (SELECT count(*) FROM updated) + (SELECT count(*) FROM added) AS latest,
       (SELECT count(*) FROM marks) AS marks
"""

DRAIN_BATCHES = 64  # pending rows per drain transaction
DRAIN_LOCK = 0x5E5E_0012  # pg_advisory_xact_lock: one drain at a time (processes and maintenance)


async def drain(conn: Conn, batches: int = DRAIN_BATCHES) -> int:
    """Apply and delete up to ``batches`` pending rows in one transaction; return how many."""
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({DRAIN_LOCK})")  # before the drain's snapshot
        row = await conn.fetchrow(_DRAIN, batches)
    assert row is not None
    return int(row["batches"])


async def drain_all(conn: Conn, batches: int = DRAIN_BATCHES) -> int:
    """Drain until nothing is pending (rows other drains hold are theirs); return how many rows."""
    done = 0
    while True:
        n = await drain(conn, batches)
        done += n
        if n < batches:
            return done


async def pending(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ingest_upkeep") or 0)


class Drainer:
    """Drains after ingest commits, in the background: ``kick`` after a commit that left upkeep.

    The drain starts ``delay`` seconds after the first kick and repeats while kicks arrive, so
    under load one drain applies several batches (each series' latest value written once, each
    hour's mark touched once). A failed drain is logged and left to the next kick or to the
    maintenance job (the rows stay). ``delay=None``: drain on the caller's connection, right after
    its commit, before the request returns (no background task)."""

    def __init__(self, pool: asyncpg.Pool, delay: float | None = 0.05) -> None:
        self._pool = pool
        self.delay = delay
        self._kicked = False
        self._task: asyncio.Task[None] | None = None

    @property
    def inline(self) -> bool:
        return self.delay is None

    async def after_commit(self, conn: Conn) -> None:
        """A commit left upkeep: drain it now on ``conn`` (inline) or kick the background drain."""
        if not self.inline:
            self.kick()
            return
        try:
            await drain_all(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("ingest upkeep drain failed; the next drain or maintenance retries it", error=repr(exc))

    def kick(self) -> None:
        self._kicked = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(self.delay or 0.0)
        while self._kicked:
            self._kicked = False
            try:
                async with self._pool.acquire() as conn:
                    await drain_all(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("ingest upkeep drain failed; the next drain or maintenance retries it", error=repr(exc))
                return

    async def settle(self) -> None:
        """Wait for the drain the kicks so far started (tests, the benchmark, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
