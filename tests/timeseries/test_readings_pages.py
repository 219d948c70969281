"""Raw readings in keyset pages and the streaming export, on every engine over raw, packed and mixed
days: every reading exactly once, in order, stable while readings arrive; the export's memory is
bounded by its batch, not by its range."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from sensorhub.http.export import export_chunks
from sensorhub.timeseries.export import export_batches
from sensorhub.timeseries.store import Point, SeriesRange

from tests.timeseries.conftest import NOW, TimeSeries, pack_everything, reading

START = NOW - timedelta(days=3)


async def _seed(ts: TimeSeries) -> list[tuple[str, Point]]:
    """Three days of two series, every 17 minutes (with microseconds), as (metric, point) pairs."""
    await ts.register("d1", "temp", "hum")
    await ts.register("d2", "temp")
    expected: list[tuple[str, Point]] = []
    for back in (3, 2, 1):
        day = NOW - timedelta(days=back)
        rows = []
        for k in range(80):
            moment = day + timedelta(minutes=17 * k, microseconds=k)
            for metric in ("hum", "temp"):
                value = k / 3 + (metric == "hum")
                rows.append(reading("d1", metric, moment, value))
                expected.append((metric, Point(moment, value)))
            rows.append(reading("d2", "temp", moment, -1.0))
        result = await ts.send(rows)
        assert result.accepted == len(rows)
    return sorted(expected, key=lambda e: (e[0], e[1].time))


async def _pages(ts: TimeSeries, series: SeriesRange, limit: int) -> list[list[Point]]:
    pages: list[list[Point]] = []
    after = None
    while True:
        async with ts.pool.acquire() as conn:
            page = await ts.store.raw_page(conn, series, after, limit)
        pages.append(page)
        if len(page) < limit:
            return pages
        after = page[-1].time


async def test_raw_pages_return_every_reading_once_in_order(ts: TimeSeries) -> None:
    expected = [p for m, p in await _seed(ts) if m == "temp"]
    series = SeriesRange("d1", "temp", START, NOW)
    pages = await _pages(ts, series, 7)
    assert all(len(p) == 7 for p in pages[:-1])
    assert [p for page in pages for p in page] == expected
    # A page may start inside a day and cross into the next, and the range is half-open.
    inner = SeriesRange("d1", "temp", expected[5].time, expected[200].time)
    assert [p for page in await _pages(ts, inner, 50) for p in page] == expected[5:200]
    # Empty stretches are skipped, not walked a day at a time: the whole calendar answers at once.
    everything = SeriesRange("d1", "temp", datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    assert [p for page in await _pages(ts, everything, 100) for p in page] == expected


async def test_a_reading_that_arrives_while_paging_shows_once_and_none_is_repeated(ts: TimeSeries) -> None:
    expected = [p for m, p in await _seed(ts) if m == "temp"]
    series = SeriesRange("d1", "temp", START, NOW)
    async with ts.pool.acquire() as conn:
        first = await ts.store.raw_page(conn, series, None, 100)
    late = NOW - timedelta(hours=2, microseconds=3)  # after the cursor: in a later page
    early = expected[10].time + timedelta(seconds=1)  # before the cursor: a keyset never revisits it
    result = await ts.send([reading("d1", "temp", late, 99.0), reading("d1", "temp", early, 98.0)])
    assert result.accepted == 2
    rest = [p for page in await _pages_after(ts, series, first[-1].time) for p in page]
    got = first + rest
    assert got == sorted([*expected, Point(late, 99.0)], key=lambda p: p.time)


async def _pages_after(ts: TimeSeries, series: SeriesRange, after: object) -> list[list[Point]]:
    async with ts.pool.acquire() as conn:
        return [await ts.store.raw_page(conn, series, after, 10_000)]  # type: ignore[arg-type]


async def test_the_export_streams_every_reading_of_the_device_once_in_batches(ts: TimeSeries) -> None:
    expected = await _seed(ts)
    batches = [
        b async for b in export_batches(ts.pool, ts.store, "d1", metrics=["hum", "temp"], start=START, end=NOW, batch=9)
    ]
    assert all(len(points) <= 9 for _, points in batches)
    assert [(m, p) for m, points in batches for p in points] == expected
    # The same rows as the paginated reads.
    for metric in ("hum", "temp"):
        pages = await _pages(ts, SeriesRange("d1", metric, START, NOW), 9)
        assert [p for m, points in batches if m == metric for p in points] == [p for page in pages for p in page]


async def _fill(ts: TimeSeries, days: int, per_day: int) -> int:
    """``per_day`` readings a day of one series, straight into the store (COPY), the older days
    packed and a few late raw rows in a packed day (mixed)."""
    await ts.register("big", "temp")
    first = NOW - timedelta(days=days)
    async with ts.pool.acquire() as conn:
        await ts.store.ensure_days(conn, [(first + timedelta(days=d)).date() for d in range(days + 1)])
        step = timedelta(days=1) / per_day
        records = [("big", "temp", first + step * i, i * 0.5) for i in range(days * per_day)]
        await conn.copy_records_to_table("readings", records=records, columns=("device_id", "metric", "time", "value"))
        await pack_everything(conn, ts.store)
        late = [("big", "temp", first + step * i + step / 2, -1.0) for i in range(0, 500)]
        await conn.copy_records_to_table("readings", records=late, columns=("device_id", "metric", "time", "value"))
    return len(records) + len(late)


async def _export_peak(ts: TimeSeries, days: int, batch: int) -> tuple[int, int, int]:
    """(rows, chunks, peak bytes traced) of a CSV export of the last ``days`` days."""
    rows = chunks = 0
    tracemalloc.start()
    try:
        batches = export_batches(
            ts.pool, ts.store, "big", metrics=["temp"], start=NOW - timedelta(days=days), end=NOW, batch=batch
        )
        async for chunk in export_chunks("big", batches, "csv"):
            rows += chunk.count(b"\n")
            chunks += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows - 1, chunks, peak  # less the header row


@pytest.mark.parametrize("storage", ["raw"])
async def test_the_exports_memory_is_bounded_by_its_batch_not_its_range(ts: TimeSeries) -> None:
    stored = await _fill(ts, days=4, per_day=15_000)
    rows, chunks, peak = await _export_peak(ts, days=4, batch=1000)
    assert rows == stored
    assert chunks >= stored // 1000
    bound = 3 * 1024 * 1024
    assert peak < bound, f"peak {peak} bytes exporting {rows} readings"
    # The bound is one the export would break if it read the range at once: a single batch does.
    _, _, whole = await _export_peak(ts, days=4, batch=stored)
    assert whole > 2 * bound, f"a single batch of {stored} readings peaked at only {whole} bytes"
