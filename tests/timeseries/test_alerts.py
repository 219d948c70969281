"""Alert evaluation on every engine: reading-time order, batch splits, duplicates, late readings."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sensorhub.application.alerts import resolve_alert
from sensorhub.domain.alert_commands import ResolveAlert
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.ingest.alerting import alert_id_for

from tests.timeseries.conftest import NOW, TimeSeries, reading

T0 = NOW - timedelta(hours=2)
VALUES = [20.0, 35.0, 36.0, 25.0, 40.0, 41.0, 20.0, 21.0]  # max 30: raise, resolve, raise, resolve


def _rows(device_id: str) -> list[dict[str, Any]]:
    return [reading(device_id, "temp", T0 + timedelta(minutes=i), v) for i, v in enumerate(VALUES)]


def _normalised(alerts: list[tuple[Any, ...]], device_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Alert events of one device, without the ids that name the device."""
    owner = {stream: data["device_id"] for stream, kind, data in alerts if kind == "AlertRaised"}
    out = []
    for stream, kind, data in alerts:
        if owner[stream] != device_id:
            continue
        out.append((kind, {k: v for k, v in data.items() if k not in ("alert_id", "device_id")}))
    return out


async def test_same_readings_in_any_split_give_the_same_alerts_and_data(ts: TimeSeries) -> None:
    splits = {
        "one": lambda rows: [rows],
        "each": lambda rows: [[r] for r in rows],
        "pairs_shuffled_inside": lambda rows: (
            [random.Random(1).sample(rows[i : i + 3], 3) for i in (0, 3)] + [rows[6:]]
        ),
        "with_duplicates": lambda rows: [rows[:4], rows[:6], rows[3:], rows],
    }
    for name in splits:
        await ts.register(name, "temp")
        await ts.threshold(name, "temp", None, 30.0)
    for name, split in splits.items():
        for batch in split(_rows(name)):
            await ts.send(batch)
    alerts = await ts.alerts()
    expected = _normalised(alerts, "one")
    assert [k for k, _ in expected] == ["AlertRaised", "AlertAutoResolved", "AlertRaised", "AlertAutoResolved"]
    for name in splits:
        assert _normalised(alerts, name) == expected, name
    stored = await ts.stored()
    by_device = {n: [(t, v) for d, _, t, v in stored if d == n] for n in splits}
    assert all(rows == by_device["one"] for rows in by_device.values())
    raised = [stream for stream, kind, _ in alerts if kind == "AlertRaised"]
    assert alert_id_for("one", "temp", T0 + timedelta(minutes=1)) in raised


async def test_late_readings_are_stored_but_do_not_change_alert_state(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.threshold("d1", "temp", None, 30.0)
    await ts.send(_rows("d1")[:2])  # 20 then 35: raised
    before = await ts.alerts()
    late = reading("d1", "temp", T0 - timedelta(minutes=5), 10.0)  # in bounds, but older than the newest
    result = await ts.send([late])
    assert (result.accepted, result.alerts_resolved) == (1, 0)
    assert await ts.alerts() == before
    assert len(await ts.stored()) == 3
    # A later in-bounds reading resolves it.
    result = await ts.send([reading("d1", "temp", T0 + timedelta(minutes=10), 10.0)])
    assert result.alerts_resolved == 1


async def test_an_alert_resolved_by_hand_lets_the_next_breach_raise_a_new_one(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.threshold("d1", "temp", 0.0, 30.0)
    first = await ts.send([reading("d1", "temp", T0, 50.0)])
    assert first.alerts_raised == 1
    alert_id = alert_id_for("d1", "temp", T0)
    async with postgres_unit_of_work(ts.pool, build_registry()) as uow:
        await resolve_alert(ResolveAlert(alert_id, "op", None, NOW), uow)
    again = await ts.send([reading("d1", "temp", T0 + timedelta(minutes=1), -5.0)])
    assert again.alerts_raised == 1
    kinds = [k for _, k, _ in await ts.alerts()]
    assert kinds.count("AlertRaised") == 2


async def test_series_without_thresholds_raise_nothing(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    result = await ts.send(_rows("d1"))
    assert (result.accepted, result.alerts_raised) == (len(VALUES), 0)
    assert await ts.alerts() == []
