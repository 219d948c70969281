"""The event store contract: every backend passes the same tests."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sensorhub.application.errors import ConcurrencyError, EventIdConflict, UnknownPosition
from sensorhub.application.stored_events import FeedCursor, Snapshot, StreamAppend

from tests.integration.eventstore.support import Store, new_event


async def test_append_to_a_new_stream_numbers_versions_from_one(store: Store) -> None:
    result = await store.append("s-1", "Thing", [new_event(), new_event(), new_event()], "no_stream")
    assert result.version == 3
    assert len(result.positions) == 3
    assert list(result.positions) == sorted(result.positions)
    assert result.position == result.positions[-1]
    assert not result.replayed
    events = await store.read_stream("s-1")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.position for e in events] == list(result.positions)
    assert await store.stream_version("s-1") == 3


@pytest.mark.parametrize(
    ("existing", "expected", "actual"),
    [(2, "no_stream", 2), (0, "stream_exists", 0), (2, 1, 2), (2, 3, 2), (0, 1, 0)],
)
async def test_a_failed_expectation_raises_with_the_actual_version(
    store: Store, existing: int, expected: str | int, actual: int
) -> None:
    if existing:
        await store.append("s", "Thing", [new_event() for _ in range(existing)])
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("s", "Thing", [new_event()], expected)  # type: ignore[arg-type]
    assert caught.value.actual_version == actual
    assert caught.value.stream_id == "s"
    assert await store.stream_version("s") == existing


@pytest.mark.parametrize("expected", ["any", "stream_exists", 2])
async def test_a_met_expectation_appends(store: Store, expected: str | int) -> None:
    await store.append("s", "Thing", [new_event(), new_event()], "no_stream")
    result = await store.append("s", "Thing", [new_event()], expected)  # type: ignore[arg-type]
    assert result.version == 3


async def test_exact_version_zero_means_no_stream(store: Store) -> None:
    assert (await store.append("s", "Thing", [new_event()], 0)).version == 1
    with pytest.raises(ConcurrencyError):
        await store.append("s", "Thing", [new_event()], 0)


async def test_appending_the_same_events_again_returns_the_original_result(store: Store) -> None:
    events = [new_event(n=1), new_event(n=2)]
    first = await store.append("s", "Thing", events, "no_stream")
    again = await store.append("s", "Thing", events, "no_stream")
    assert again.replayed
    assert (again.version, again.positions) == (first.version, first.positions)
    assert await store.stream_version("s") == 2
    assert len(await store.read_stream("s")) == 2


async def test_a_reused_event_id_with_other_content_is_an_error(store: Store) -> None:
    event = new_event(n=1)
    await store.append("s", "Thing", [event])
    with pytest.raises(EventIdConflict):
        await store.append("s", "Thing", [replace(event, data={"n": 2})])
    with pytest.raises(EventIdConflict):
        await store.append("other", "Thing", [event])
    with pytest.raises(EventIdConflict):  # part of an append already stored, part new
        await store.append("s", "Thing", [event, new_event()])
    assert await store.stream_version("s") == 1
    assert await store.stream_version("other") == 0


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("expected", ["any", "stream_exists", 1])
async def test_a_retried_append_replays_whatever_its_expectation_and_leaves_the_version(
    store: Store, expected: str | int, count: int
) -> None:
    await store.append("s", "Thing", [new_event()], "no_stream")
    events = [new_event(n=k) for k in range(count)]
    first = await store.append("s", "Thing", events, expected)  # type: ignore[arg-type]
    again = await store.append("s", "Thing", events, expected)  # type: ignore[arg-type]
    assert again.replayed
    assert (again.version, again.positions) == (first.version, first.positions) == (1 + count, first.positions)
    assert await store.stream_version("s") == 1 + count
    later = await store.append("s", "Thing", [new_event()], 1 + count)  # the version was given back intact
    assert later.version == 2 + count


@pytest.mark.parametrize("expected", ["any", "no_stream", 0, "stream_exists", 2])
async def test_an_event_id_stored_in_another_stream_is_refused_whatever_the_expectation(
    store: Store, expected: str | int
) -> None:
    taken = new_event(n=1)
    await store.append("owner", "Thing", [taken])
    target = "fresh" if expected in ("no_stream", 0) else "existing"
    if target == "existing":
        await store.append("existing", "Thing", [new_event(), new_event()])
    with pytest.raises(EventIdConflict):
        await store.append(target, "Thing", [taken], expected)  # type: ignore[arg-type]
    with pytest.raises(EventIdConflict):
        await store.append(target, "Thing", [new_event(), taken], expected)  # type: ignore[arg-type]
    assert await store.stream_version(target) == (0 if target == "fresh" else 2)
    assert await store.stream_version("owner") == 1
    assert (await store.append(target, "Thing", [new_event()], expected)).version == (  # type: ignore[arg-type]
        1 if target == "fresh" else 3
    )


async def test_read_stream_forward_backward_and_limited(store: Store) -> None:
    await store.append("s", "Thing", [new_event(n=i) for i in range(1, 6)])
    await store.append("t", "Thing", [new_event()])
    assert [e.data["n"] for e in await store.read_stream("s", from_version=3)] == [3, 4, 5]
    assert [e.data["n"] for e in await store.read_stream("s", from_version=2, limit=2)] == [2, 3]
    assert [e.data["n"] for e in await store.read_stream("s", from_version=4, backwards=True)] == [4, 3, 2, 1]
    assert [e.stream_version for e in await store.read_stream("s", from_version=5, backwards=True, limit=1)] == [5]
    assert await store.read_stream("missing") == []


async def test_read_for_replay_is_read_stream_reduced_to_what_replay_needs(store: Store) -> None:
    await store.append("s", "Thing", [new_event(n=i, label=f"é{i}") for i in range(1, 6)])
    await store.append("t", "Thing", [new_event()])
    for kwargs in ({}, {"from_version": 3}, {"from_version": 2, "limit": 2}, {"limit": 0}):
        full = await store.read_stream("s", **kwargs)  # type: ignore[arg-type]
        reduced = await store.read_for_replay("s", **kwargs)  # type: ignore[arg-type]
        assert [(e.stream_version, e.position, e.type, e.schema_version) for e in full] == [
            (e.stream_version, e.position, e.type, e.schema_version) for e in reduced
        ]
        assert [e.data for e in full] == [json.loads(e.data) for e in reduced]
    last = (await store.read_stream("s"))[-1]
    assert len(await store.read_for_replay("s", until=last.recorded_at)) == 5
    assert await store.read_for_replay("s", until=last.recorded_at - timedelta(days=1)) == []
    assert await store.read_for_replay("missing") == []


async def test_recorded_events_carry_type_schema_version_and_metadata(store: Store) -> None:
    event = new_event("DeviceRegistered", name="x")
    await store.append("s", "Device", [event])
    (recorded,) = await store.read_stream("s")
    assert recorded.event_id == event.event_id
    assert (recorded.type, recorded.schema_version) == ("DeviceRegistered", 1)
    assert recorded.data == {"name": "x"}
    assert recorded.metadata == {"actor": "test"}
    assert recorded.recorded_at.tzinfo is not None
    assert recorded.stream_id == "s"


async def test_the_feed_returns_everything_after_a_cursor_and_filters_by_type(store: Store) -> None:
    await store.append("a", "Thing", [new_event("A"), new_event("B")])
    await store.append("b", "Thing", [new_event("A")])
    everything = await store.read_feed(FeedCursor.start(), 100)
    assert [e.type for e in everything] == ["A", "B", "A"]
    assert [e.cursor for e in everything] == sorted(e.cursor for e in everything)
    assert [e.type for e in await store.read_feed(everything[0].cursor, 100)] == ["B", "A"]
    assert await store.read_feed(everything[-1].cursor, 100) == []
    only_a = await store.read_feed(FeedCursor.start(), 100, types=["A"])
    assert [e.stream_id for e in only_a] == ["a", "b"]
    assert len(await store.read_feed(FeedCursor.start(), 2)) == 2


async def test_a_position_names_its_feed_cursor(store: Store) -> None:
    result = await store.append("a", "Thing", [new_event(), new_event()])
    cursor = await store.cursor_for_position(result.positions[0])
    assert cursor.position == result.positions[0]
    (rest,) = await store.read_feed(cursor, 10)
    assert rest.position == result.positions[1]
    assert await store.cursor_for_position(0) == FeedCursor.start()
    with pytest.raises(UnknownPosition):
        await store.cursor_for_position(10_000)


async def test_append_many_is_all_or_nothing(store: Store) -> None:
    await store.append("taken", "Thing", [new_event()])
    with pytest.raises(ConcurrencyError):
        await store.append_many(
            [
                StreamAppend("fresh", "Thing", (new_event(),), "no_stream"),
                StreamAppend("taken", "Thing", (new_event(),), "no_stream"),
            ]
        )
    assert await store.stream_version("fresh") == 0
    results = await store.append_many(
        [
            StreamAppend("fresh", "Thing", (new_event(),), "no_stream"),
            StreamAppend("taken", "Thing", (new_event(),), 1),
        ]
    )
    assert [r.version for r in results] == [1, 2]


async def test_snapshots_keep_the_newest_per_schema_version(store: Store) -> None:
    assert await store.load_snapshot("s", 1) is None
    await store.save_snapshot(Snapshot("s", "Thing", 1, 10, 100, {"v": 10}))
    await store.save_snapshot(Snapshot("s", "Thing", 1, 5, 50, {"v": 5}))  # older: ignored
    await store.save_snapshot(Snapshot("s", "Thing", 2, 7, 70, {"v": 7}))
    one = await store.load_snapshot("s", 1)
    assert one is not None
    assert (one.stream_version, one.position, one.state) == (10, 100, {"v": 10})
    two = await store.load_snapshot("s", 2)
    assert two is not None
    assert two.state == {"v": 7}
    assert await store.load_snapshot("s", 3) is None
