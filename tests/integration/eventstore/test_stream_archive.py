"""Stream archiving, the contract both stores keep: an archived stream's events still read (stream,
replay, feed, position lookups) exactly as before, a tombstone says it is archived, appends to it
are refused, and a restore opens it again with the same positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sensorhub.application.errors import ConcurrencyError, StreamArchived
from sensorhub.application.stored_events import FeedCursor

from tests.integration.eventstore.support import Store, new_event


async def _everything(store: Store) -> list[tuple[object, ...]]:
    """The whole feed as (position, stream, version, type, data), paged as a projector would."""
    out: list[tuple[object, ...]] = []
    cursor = FeedCursor.start()
    while page := await store.read_feed(cursor, 3):
        out += [(e.position, e.transaction_id, e.stream_id, e.stream_version, e.type, e.data) for e in page]
        cursor = page[-1].cursor
    return out


async def _fill(store: Store) -> None:
    await store.append("a-1", "Alert", [new_event("Raised", n=1), new_event("Resolved", n=2)], "no_stream")
    await store.append("d-1", "Device", [new_event("Registered", n=3)], "no_stream")
    await store.append("a-2", "Alert", [new_event("Raised", n=4)], "no_stream")
    await store.append("d-1", "Device", [new_event("Renamed", n=5)], 1)
    await store.append("a-2", "Alert", [new_event("Resolved", n=6)], 1)


async def test_an_archived_stream_reads_as_before_and_the_feed_keeps_its_positions(store: Store) -> None:
    await _fill(store)
    feed_before = await _everything(store)
    stream_before = await store.read_stream("a-1")
    replay_before = await store.read_for_replay("a-1")
    backwards_before = await store.read_stream("a-1", backwards=True, limit=1)

    archived = await store.archive_streams(["a-1", "nope"])

    assert [(t.stream_id, t.stream_type, t.last_version, t.event_count) for t in archived] == [("a-1", "Alert", 2, 2)]
    assert archived[0].last_position == stream_before[-1].position
    assert await store.archived("a-1") == archived[0]
    assert await store.archived("a-2") is None
    assert await store.read_stream("a-1") == stream_before
    assert await store.read_for_replay("a-1") == replay_before
    assert await store.read_stream("a-1", backwards=True, limit=1) == backwards_before
    assert await _everything(store) == feed_before
    for event in stream_before:  # a position of an archived event is still a valid feed cursor
        assert await store.cursor_for_position(event.position) == event.cursor
    assert await store.stream_version("a-1") == 2


async def test_archiving_twice_is_a_no_op(store: Store) -> None:
    await _fill(store)
    assert len(await store.archive_streams(["a-1"])) == 1
    assert await store.archive_streams(["a-1"]) == []


@pytest.mark.parametrize("expected", ["any", "stream_exists", 2])
async def test_an_append_to_an_archived_stream_is_refused_and_writes_nothing(store: Store, expected: str | int) -> None:
    await _fill(store)
    await store.archive_streams(["a-1"])
    feed_before = await _everything(store)
    with pytest.raises(StreamArchived, match="a-1 is archived"):
        await store.append("a-1", "Alert", [new_event("Reopened")], expected)  # type: ignore[arg-type]
    assert await _everything(store) == feed_before
    assert await store.stream_version("a-1") == 2


async def test_an_empty_append_to_an_archived_stream_answers_with_its_last_event(store: Store) -> None:
    await _fill(store)
    last = (await store.read_stream("a-1"))[-1]
    await store.archive_streams(["a-1"])
    result = await store.append("a-1", "Alert", [], 2)
    assert (result.version, result.position, result.positions) == (2, last.position, ())


async def test_a_missed_expectation_on_an_archived_stream_is_still_a_concurrency_error(store: Store) -> None:
    await _fill(store)
    await store.archive_streams(["a-1"])
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("a-1", "Alert", [new_event("Reopened")], "no_stream")
    assert caught.value.actual_version == 2


async def test_restore_opens_the_stream_again_with_the_same_positions(store: Store) -> None:
    await _fill(store)
    feed_before = await _everything(store)
    await store.archive_streams(["a-1", "a-2"])
    assert await store.restore_streams(["a-1"]) == 2
    assert await store.restore_streams(["a-1"]) == 0
    assert await store.archived("a-1") is None
    assert await store.archived("a-2") is not None
    assert await _everything(store) == feed_before
    result = await store.append("a-1", "Alert", [new_event("Reopened")], 2)
    assert result.version == 3
    assert [e.stream_version for e in await store.read_stream("a-1")] == [1, 2, 3]


async def test_closed_streams_are_those_whose_last_event_closes_them_before_the_cutoff(store: Store) -> None:
    await _fill(store)
    await store.append("a-3", "Alert", [new_event("Raised")], "no_stream")  # still open
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await store.closed_streams("Alert", ["Resolved"], later) == ["a-1", "a-2"]
    assert await store.closed_streams("Alert", ["Resolved"], later, after="a-1") == ["a-2"]
    assert await store.closed_streams("Alert", ["Resolved"], later, limit=1) == ["a-1"]
    assert await store.closed_streams("Alert", ["Resolved"], datetime.now(UTC) - timedelta(minutes=1)) == []
    await store.archive_streams(["a-1"])
    assert await store.closed_streams("Alert", ["Resolved"], later) == ["a-2"]
