"""Ingest on every engine: per-row reasons, duplicates, idempotence, atomicity."""

from __future__ import annotations

from datetime import timedelta

from tests.timeseries.conftest import NOW, TimeSeries, reading

T0 = NOW - timedelta(hours=3)


async def test_valid_rows_are_stored_and_bad_rows_get_specific_reasons(ts: TimeSeries) -> None:
    await ts.register("d1", "temp", "hum")
    await ts.register("gone", "temp")
    await ts.decommission("gone")
    rows = [
        reading("d1", "temp", T0, 20.5),
        reading("nope", "temp", T0, 1.0),
        reading("gone", "temp", T0, 1.0),
        reading("d1", "pressure", T0, 1.0),
        {"device_id": "d1", "metric": "temp", "time": T0.isoformat(), "value": "NaN"},
        reading("d1", "temp", NOW + timedelta(minutes=6), 1.0),
        {"device_id": "d1", "metric": "temp", "time": "yesterday", "value": 1.0},
        {"device_id": "d1", "metric": "temp", "time": "2030-01-10T10:00:00", "value": 1.0},
        reading("d1", "hum", NOW + timedelta(minutes=4), 40.0),
        reading("d1", "temp", NOW - timedelta(days=40), 1.0),
    ]
    result = await ts.send(rows)
    assert result.accepted == 2
    assert result.duplicates == 0
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "unknown_device"),
        (2, "decommissioned_device"),
        (3, "unknown_metric"),
        (4, "non_finite_value"),
        (5, "future_time"),
        (6, "malformed_time"),
        (7, "malformed_time"),
        (9, "too_old"),
    ]
    assert "its metrics: hum, temp" in result.rejected[2].detail
    assert "no UTC offset" in result.rejected[6].detail
    assert await ts.stored() == [
        ("d1", "hum", NOW + timedelta(minutes=4), 40.0),
        ("d1", "temp", T0, 20.5),
    ]


async def test_duplicates_are_counted_not_errors_and_the_first_value_wins(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    first = await ts.send([reading("d1", "temp", T0, 1.0), reading("d1", "temp", T0, 2.0)])
    assert (first.accepted, first.duplicates) == (1, 1)
    again = await ts.send([reading("d1", "temp", T0, 3.0), reading("d1", "temp", T0 + timedelta(seconds=1), 4.0)])
    assert (again.accepted, again.duplicates) == (1, 1)
    assert [r[3] for r in await ts.stored()] == [1.0, 4.0]
    async with ts.pool.acquire() as conn:
        latest = await ts.store.latest(conn, "d1")
    assert [(m, p.time, p.value) for m, p in latest] == [("temp", T0 + timedelta(seconds=1), 4.0)]


async def test_latest_never_goes_back_in_time(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", T0 + timedelta(minutes=5), 5.0)])
    await ts.send([reading("d1", "temp", T0, 1.0)])  # late
    async with ts.pool.acquire() as conn:
        latest = await ts.store.latest(conn, "d1")
    assert [(p.time, p.value) for _, p in latest] == [(T0 + timedelta(minutes=5), 5.0)]
