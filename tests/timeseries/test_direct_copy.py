"""The direct write (issue 18): a batch is ``COPY``'d straight into ``readings`` with its upkeep row
computed in Python; a batch repeating a stored reading fails that transaction and is merged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sensorhub.db import array_literal
from sensorhub.ingest.rows import parse_json
from sensorhub.ingest.service import MERGE_AFTER_CONFLICT
from sensorhub.timeseries.batch_upkeep import hour_of, upkeep_of
from sensorhub.timeseries.store import Reading

from tests.timeseries.conftest import NOW, TimeSeries, reading

T0 = NOW - timedelta(hours=3, minutes=50)  # 08:10, so the batches below span two hours


def _batch() -> list[Reading]:
    """Three series over two hours, not in time order, one series with a single reading."""
    return [
        Reading("d1", "temp", T0 + timedelta(minutes=55), 3.0),
        Reading("d1", "temp", T0, 1.0),
        Reading("d1", "hum", T0 + timedelta(minutes=5), 40.0),
        Reading("d1", "temp", T0 + timedelta(minutes=20), 2.0),
        Reading("d2", "temp", T0 + timedelta(minutes=45), 7.0),
        Reading("d2", "temp", T0 + timedelta(minutes=46), 8.0),
    ]


async def _upkeep_written(ts: TimeSeries, direct: bool) -> tuple[Any, set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Write the batch in a transaction that is rolled back; return how, and the upkeep row it wrote."""
    async with ts.pool.acquire() as conn:
        await ts.store.ensure_days(conn, {T0.date()})
        tx = conn.transaction()
        await tx.start()
        try:
            outcome = await ts.store.write(conn, _batch(), direct=direct)
            row = await conn.fetchrow("SELECT * FROM ingest_upkeep")
        finally:
            await tx.rollback()
    assert row is not None
    latest = set(
        zip(row["latest_devices"], row["latest_metrics"], row["latest_times"], row["latest_values"], strict=True)
    )
    marks = set(zip(row["hour_devices"], row["hour_metrics"], row["hours"], strict=True))
    return outcome, latest, marks


async def test_the_direct_write_leaves_the_upkeep_row_the_merge_leaves(ts: TimeSeries) -> None:
    direct, latest, marks = await _upkeep_written(ts, direct=True)
    merged, latest_merged, marks_merged = await _upkeep_written(ts, direct=False)
    assert direct.direct and not merged.direct
    assert (direct.inserted, direct.duplicates) == (merged.inserted, merged.duplicates) == (6, 0)
    assert latest == latest_merged == {
        ("d1", "temp", T0 + timedelta(minutes=55), 3.0),
        ("d1", "hum", T0 + timedelta(minutes=5), 40.0),
        ("d2", "temp", T0 + timedelta(minutes=46), 8.0),
    }
    eight, nine = NOW.replace(hour=8), NOW.replace(hour=9)
    assert marks == marks_merged == {
        ("d1", "temp", eight), ("d1", "temp", nine), ("d1", "hum", eight), ("d2", "temp", eight),
    }


def test_hours_are_utc_hours_whatever_the_offset() -> None:
    india = datetime.fromisoformat("2030-01-10T14:40:00+05:30")  # 09:10 UTC
    assert hour_of(india) == datetime(2030, 1, 10, 9, tzinfo=UTC)
    row = upkeep_of([Reading("d", "m", india, 1.0), Reading("d", "m", india + timedelta(minutes=10), 2.0)])
    assert (row.hours, row.latest_values) == ([datetime(2030, 1, 10, 9, tzinfo=UTC)], [2.0])


async def test_a_batch_repeating_a_stored_reading_is_merged_and_the_next_ones_too(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    first = await ts.send([reading("d1", "temp", T0, 1.0)])
    assert first.accepted == 1
    # The repeat comes last: the direct COPY has written every other row before it fails.
    rows = [reading("d1", "temp", T0 + timedelta(seconds=s), 10.0 + s) for s in range(1, 50)]
    again = await ts.send([*rows, reading("d1", "temp", T0, 2.0)])
    assert (again.accepted, again.duplicates) == (49, 1)
    stored = await ts.stored()
    assert len(stored) == 50 and stored[0] == ("d1", "temp", T0, 1.0)  # once each, the first value kept
    if ts.storage.kind == "raw":  # (packed storage sends this batch to the merge anyway)
        assert ts.ingest._merge_next == MERGE_AFTER_CONFLICT  # pyright: ignore[reportPrivateUsage]
    later = await ts.send([reading("d1", "temp", T0 + timedelta(minutes=5), 5.0)])
    assert later.accepted == 1
    async with ts.pool.acquire() as conn:
        latest = await ts.store.latest(conn, "d1")
    assert [(p.time, p.value) for _, p in latest] == [(T0 + timedelta(minutes=5), 5.0)]
    hourly = await ts.pool.fetchval("SELECT count(*) FROM rollup_dirty WHERE device_id = 'd1'")
    assert hourly == 1


async def test_concurrent_batches_of_the_same_readings_store_them_once(ts: TimeSeries) -> None:
    await ts.register("d1", "temp", "hum")
    rows = [reading("d1", m, T0 + timedelta(seconds=s), float(s)) for s in range(200) for m in ("temp", "hum")]
    body = {"readings": rows}
    import msgspec

    parsed = [parse_json(msgspec.json.encode(body)) for _ in range(3)]
    results = await asyncio.gather(*(ts.ingest.ingest(p) for p in parsed))
    await ts.ingest.upkeep.settle()
    assert sum(r.accepted for r in results) == 400
    assert sum(r.duplicates for r in results) == 800
    assert len(await ts.stored()) == 400


async def test_a_batch_repeating_its_own_reading_keeps_the_first(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    rows = [reading("d1", "temp", T0 + timedelta(seconds=s), float(s)) for s in range(20)]
    result = await ts.send([*rows, reading("d1", "temp", T0 + timedelta(seconds=3), 99.0)])
    assert (result.accepted, result.duplicates) == (20, 1)
    assert [r[3] for r in await ts.stored()] == [float(s) for s in range(20)]


async def test_array_literals_round_trip_any_text(ts: TimeSeries) -> None:
    texts = ['plain', 'with "quotes"', "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "", "ünï ✓", "new\nline"]
    assert await ts.pool.fetchval("SELECT $1::text::text[]", array_literal(texts)) == texts
    values = [1.5, -0.0, 1e300, 20.000000000000004]
    assert await ts.pool.fetchval("SELECT $1::text::float8[]", array_literal(values)) == values
    times = [T0, datetime.fromisoformat("2030-01-10T14:40:00.123456+05:30")]
    assert await ts.pool.fetchval("SELECT $1::text::timestamptz[]", array_literal(times)) == times
    assert await ts.pool.fetchval("SELECT $1::text::text[]", array_literal([])) == []
