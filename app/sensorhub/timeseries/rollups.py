"""Hourly rollups, maintained incrementally.

Every (series, hour) an ingest batch wrote a new reading in is marked (``rollup_dirty``) by the
drain of the batch's upkeep row, after the readings' commit (``upkeep.py``), so late readings mark
old hours too. The maintenance job recomputes marked hours from the raw rows, oldest first and a
bounded number per transaction, and clears a mark only if nobody re-marked it meanwhile (its
``generation`` is unchanged). Queries treat a marked hour, or one a pending upkeep row names, as
raw, so a rollup is never read while it is stale.

The generation's parity says whether a run has claimed the mark. A new mark is odd (1). A run
first claims a batch of marks in its own short transaction (locking them, skipping marks a drain
holds, and making each generation even), then recomputes them in a second transaction whose
snapshot is therefore later than the claim's commit. A drain that finds the mark unclaimed in its
snapshot leaves it alone (no rewrite, no lock): its readings committed before that snapshot, so
before the claim, and the recompute sees them. A drain that finds a claimed (even) mark bumps it to
odd, so the running recompute, which may not see its readings, does not clear it. A mark is thus
rewritten at most once per maintenance run instead of on every write.
"""

from __future__ import annotations

from datetime import datetime

from sensorhub.db import Conn

_CLAIM = """
WITH picked AS (
    SELECT device_id, metric, bucket FROM rollup_dirty
    ORDER BY bucket, device_id, metric LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE rollup_dirty d SET generation = d.generation + 2 - d.generation % 2
FROM picked p
WHERE d.device_id = p.device_id AND d.metric = p.metric AND d.bucket = p.bucket
RETURNING d.device_id, d.metric, d.bucket, d.generation
"""

_RECOMPUTE = """
WITH marks AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[])
        AS m(device_id, metric, bucket, generation)
), agg AS (
    SELECT m.device_id, m.metric, m.bucket, x.*
    FROM marks m
    CROSS JOIN LATERAL (
        SELECT count(*) AS count, sum(value::numeric) AS sum, min(value) AS min, max(value) AS max,
               min(time) AS first_time, (array_agg(value ORDER BY time))[1] AS first_value,
               max(time) AS last_time, (array_agg(value ORDER BY time DESC))[1] AS last_value
        FROM readings_series(m.device_id, m.metric, m.bucket, m.bucket + interval '1 hour')
    ) x
), upserted AS (
    INSERT INTO readings_hourly AS h
        (device_id, metric, bucket, count, sum, min, max, first_time, first_value, last_time, last_value)
    SELECT device_id, metric, bucket, count, sum, min, max, first_time, first_value, last_time, last_value
    FROM agg WHERE count > 0
    ORDER BY device_id, metric, bucket
    ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
        count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
        first_time = excluded.first_time, first_value = excluded.first_value,
        last_time = excluded.last_time, last_value = excluded.last_value
    RETURNING 1
), cleared AS (
    DELETE FROM rollup_dirty d USING marks m
    WHERE d.device_id = m.device_id AND d.metric = m.metric AND d.bucket = m.bucket AND d.generation = m.generation
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) AS upserted, (SELECT count(*) FROM cleared) AS cleared
"""


async def refresh(conn: Conn, batch: int, max_batches: int = 100) -> int:
    """Recompute marked hours, ``batch`` per transaction; return how many hours were rolled up."""
    done = 0
    for _ in range(max_batches):
        async with conn.transaction():
            marks = await conn.fetch(_CLAIM, batch)
        if not marks:
            break
        async with conn.transaction():
            row = await conn.fetchrow(
                _RECOMPUTE,
                [m["device_id"] for m in marks],
                [m["metric"] for m in marks],
                [m["bucket"] for m in marks],
                [m["generation"] for m in marks],
            )
            assert row is not None
            done += int(row["upserted"])
        if len(marks) < batch:
            break
    return done


async def forget_before(conn: Conn, cutoff: datetime) -> None:
    """Marks for hours whose raw rows retention has dropped can never be recomputed."""
    await conn.execute("DELETE FROM rollup_dirty WHERE bucket < $1", cutoff)


async def delete_before(conn: Conn, cutoff: datetime) -> int:
    status = await conn.execute("DELETE FROM readings_hourly WHERE bucket < $1", cutoff)
    return int(status.split()[-1])
