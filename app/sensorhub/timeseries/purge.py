"""Forgetting a device's readings: every row of every series of one device, raw and packed, with
its latest values, hourly rollups, rollup marks and alert state (``DELETE /v1/devices/{id}``).

One transaction. It first takes the shared advisory lock of every day the device has readings on
(as ingest does, ``compression.day_locks_sql``), so a compression of one of those days commits
wholly before the purge or starts after it: no raw row is packed again behind the purge's back.
Pending upkeep (``ingest_upkeep``, drained after ingest commits) loses the device's entries first:
the scrub waits for a drain that holds a row, and the deletes that follow see what it applied, so
no drain puts a latest value or a rollup mark of the device back after the purge.
Archived Parquet files are not rewritten (see docs/api.md)."""

from __future__ import annotations

from datetime import date, timedelta

from sensorhub.db import Conn
from sensorhub.timeseries.compression import day_locks_sql

_DAYS = """
SELECT min(d) AS first, max(d) AS last FROM (
    SELECT (min(time) AT TIME ZONE 'UTC')::date AS d FROM readings WHERE device_id = $1
    UNION ALL SELECT (max(time) AT TIME ZONE 'UTC')::date FROM readings WHERE device_id = $1
    UNION ALL SELECT min(day) FROM readings_packed WHERE device_id = $1
    UNION ALL SELECT max(day) FROM readings_packed WHERE device_id = $1
) days
"""
# The device's entries out of every pending upkeep row (arrays kept aligned, never NULL).
_SCRUB_UPKEEP = """
UPDATE ingest_upkeep u SET
    latest_devices = l.devices, latest_metrics = l.metrics, latest_times = l.times, latest_values = l.vals,
    hour_devices = h.devices, hour_metrics = h.metrics, hours = h.hours
FROM ingest_upkeep o
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(d ORDER BY i), '{}') AS devices, coalesce(array_agg(m ORDER BY i), '{}') AS metrics,
           coalesce(array_agg(t ORDER BY i), '{}') AS times, coalesce(array_agg(v ORDER BY i), '{}') AS vals
    FROM unnest(o.latest_devices, o.latest_metrics, o.latest_times, o.latest_values) WITH ORDINALITY AS x(d, m, t, v, i)
    WHERE d <> $1
) l
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(d ORDER BY i), '{}') AS devices, coalesce(array_agg(m ORDER BY i), '{}') AS metrics,
           coalesce(array_agg(b ORDER BY i), '{}') AS hours
    FROM unnest(o.hour_devices, o.hour_metrics, o.hours) WITH ORDINALITY AS x(d, m, b, i)
    WHERE d <> $1
) h
WHERE u.id = o.id AND ($1 = ANY (o.latest_devices) OR $1 = ANY (o.hour_devices))
"""
_TABLES = ("readings", "readings_packed", "latest_readings", "readings_hourly", "rollup_dirty", "series_alert_state")


async def purge_device(conn: Conn, device_id: str) -> int:
    """Delete everything the time-series store holds for ``device_id``; the number of readings
    rows deleted (raw rows plus packed series-days)."""
    async with conn.transaction():
        span = await conn.fetchrow(_DAYS, device_id)
        if span is not None and span["first"] is not None:
            first: date = span["first"]
            days = [first + timedelta(days=i) for i in range((span["last"] - first).days + 1)]
            await conn.execute(day_locks_sql(days))
        await conn.execute(_SCRUB_UPKEEP, device_id)
        deleted = 0
        for table in _TABLES:
            status = await conn.execute(f"DELETE FROM {table} WHERE device_id = $1", device_id)
            if table in ("readings", "readings_packed"):
                deleted += int(status.rsplit(" ", 1)[-1])
        return deleted
