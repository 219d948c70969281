"""Forgetting a device's readings: every row of every series of one device, raw and packed, with
its latest values, hourly rollups, rollup marks and alert state (``DELETE /v1/devices/{id}``).

One transaction. It first takes the shared advisory lock of every day the device has readings on
(as ingest does, ``compression.day_locks_sql``), so a compression of one of those days commits
wholly before the purge or starts after it: no raw row is packed again behind the purge's back.
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
        deleted = 0
        for table in _TABLES:
            status = await conn.execute(f"DELETE FROM {table} WHERE device_id = $1", device_id)
            if table in ("readings", "readings_packed"):
                deleted += int(status.rsplit(" ", 1)[-1])
        return deleted
