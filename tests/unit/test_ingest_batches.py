"""Validation's whole-batch check and the Python upkeep row agree with the row-by-row definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sensorhub.ingest.catalog import DeviceInfo
from sensorhub.ingest.rows import Parsed
from sensorhub.ingest.validation import _walk, oldest_kept, validate  # pyright: ignore[reportPrivateUsage]
from sensorhub.timeseries.batch_upkeep import hour_of, upkeep_of
from sensorhub.timeseries.store import Reading, first_of_each

NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
DEVICES = {
    "d1": DeviceInfo("d1", "s", "active", frozenset({"temp", "hum"}), {}, 1),
    "d2": DeviceInfo("d2", "s", "active", frozenset({"temp"}), {}, 1),
    "gone": DeviceInfo("gone", "s", "decommissioned", frozenset({"temp"}), {}, 1),
}

readings = st.lists(
    st.builds(
        Reading,
        st.sampled_from(["d1", "d2", "gone", "nope"]),
        st.sampled_from(["temp", "hum"]),
        st.integers(-60 * 24 * 40, 10).map(lambda m: NOW + timedelta(minutes=m)),
        st.floats(-5, 5),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(readings)
def test_validate_decides_as_the_row_by_row_walk(batch: list[Reading]) -> None:
    parsed = Parsed(list(enumerate(batch)), [])
    writable = {(d.device_id, m) for d in DEVICES.values() if d.status != "decommissioned" for m in d.metrics}
    walked = _walk(parsed, DEVICES, writable, NOW + timedelta(minutes=5), oldest_kept(NOW, 30))
    checked = validate(parsed, DEVICES, NOW, 30)
    assert checked.rejected == walked.rejected
    if checked.unique:
        assert checked == walked
    else:  # the write drops the repeats: the first of each series and time, the others counted
        assert first_of_each(checked.accepted) == walked.accepted
        assert len(checked.accepted) - len(walked.accepted) == walked.duplicates


@settings(max_examples=300, deadline=None)
@given(readings)
def test_the_upkeep_row_is_the_newest_per_series_and_every_series_hour(batch: list[Reading]) -> None:
    unique = list({(r.device_id, r.metric, r.time): r for r in reversed(batch)}.values())
    row = upkeep_of(unique)
    newest: dict[tuple[str, str], Reading] = {}
    for r in unique:
        if (r.device_id, r.metric) not in newest or r.time > newest[(r.device_id, r.metric)].time:
            newest[(r.device_id, r.metric)] = r
    latest = zip(row.latest_devices, row.latest_metrics, row.latest_times, row.latest_values, strict=True)
    assert sorted(latest) == sorted((r.device_id, r.metric, r.time, r.value) for r in newest.values())
    hours = sorted(zip(row.hour_devices, row.hour_metrics, row.hours, strict=True))
    assert hours == sorted({(r.device_id, r.metric, hour_of(r.time)) for r in unique})
