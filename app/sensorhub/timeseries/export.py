"""A device's readings over any range, in batches: what the streaming export
(``GET /v1/devices/{id}/readings/export``) writes out.

Each batch is one keyset page (``TimeSeriesStore.raw_page``) read on a connection taken from the
pool for that batch only, so memory and connections held are bounded by the batch size, not by
the range, and a slow client never pins a database connection. Series come one after the other
(by metric), each oldest first: every reading of the range exactly once, as the paginated reads
return them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import asyncpg

from sensorhub.timeseries.store import Point, SeriesRange, TimeSeriesStore

BATCH = 5000


async def export_batches(
    pool: asyncpg.Pool,
    store: TimeSeriesStore,
    device_id: str,
    *,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    batch: int = BATCH,
) -> AsyncIterator[tuple[str, list[Point]]]:
    """``(metric, points)`` batches of at most ``batch`` readings, metrics in the order given."""
    for metric in metrics:
        series = SeriesRange(device_id, metric, start, end)
        after: datetime | None = None
        while True:
            async with pool.acquire() as conn:
                points = await store.raw_page(conn, series, after, batch)
            if points:
                yield metric, points
            if len(points) < batch:
                break
            after = points[-1].time
