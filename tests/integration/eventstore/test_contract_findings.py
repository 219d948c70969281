"""The event store contract, continued: the findings of the independent contract run (issue 17)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sensorhub.application.errors import ConcurrencyError, EventIdConflict
from sensorhub.application.stored_events import StreamAppend

from tests.integration.eventstore.support import Store, new_event


async def test_append_many_in_opposite_stream_orders_does_not_deadlock(store: Store) -> None:
    """The store orders the streams itself: callers need not agree on an order."""
    rounds = 20

    async def both(order: tuple[str, ...]) -> None:
        await store.append_many([StreamAppend(s, "Thing", (new_event(), new_event()), "any") for s in order])

    for _ in range(rounds):
        await asyncio.gather(both(("a", "b", "c")), both(("c", "b", "a")))
    assert await store.stream_version("a") == await store.stream_version("c") == 4 * rounds


async def test_append_many_returns_results_in_the_callers_order(store: Store) -> None:
    results = await store.append_many(
        [
            StreamAppend("z", "Thing", (new_event(), new_event()), "no_stream"),
            StreamAppend("a", "Thing", (new_event(),), "no_stream"),
        ]
    )
    assert [(r.stream_id, r.version) for r in results] == [("z", 2), ("a", 1)]


async def test_a_replay_with_other_metadata_is_a_conflict_not_a_replay(store: Store) -> None:
    """Identical means same stream, type, schema version, data *and* metadata."""
    event = new_event(n=1)
    first = await store.append("s", "Thing", [event])
    with pytest.raises(EventIdConflict):
        await store.append("s", "Thing", [replace(event, metadata={"actor": "someone else"})])
    with pytest.raises(EventIdConflict):
        await store.append("s", "Thing", [replace(event, schema_version=2)])
    with pytest.raises(EventIdConflict):
        await store.append("s", "Thing", [replace(event, type="Other")])
    again = await store.append("s", "Thing", [replace(event, metadata=dict(event.metadata))])
    assert again.replayed
    assert again.positions == first.positions
    assert await store.stream_version("s") == 1


async def test_read_stream_backwards_without_a_version_starts_at_the_newest(store: Store) -> None:
    await store.append("s", "Thing", [new_event(n=i) for i in range(1, 6)])
    assert [e.data["n"] for e in await store.read_stream("s", backwards=True)] == [5, 4, 3, 2, 1]
    assert [e.stream_version for e in await store.read_stream("s", backwards=True, limit=2)] == [5, 4]
    assert [e.data["n"] for e in await store.read_stream("s")] == [1, 2, 3, 4, 5]
    assert await store.read_stream("missing", backwards=True) == []


@pytest.mark.parametrize("expected", ["any", "stream_exists", 2])
async def test_an_append_of_no_events_checks_the_expectation_and_writes_nothing(
    store: Store, expected: str | int
) -> None:
    written = await store.append("s", "Thing", [new_event(), new_event()])
    result = await store.append("s", "Thing", [], expected)  # type: ignore[arg-type]
    assert (result.version, result.positions, result.replayed) == (2, (), False)
    assert result.position == written.position  # still a valid consistency token: the stream's last event
    assert await store.stream_version("s") == 2
    assert len(await store.read_stream("s")) == 2
    later = await store.append("s", "Thing", [new_event()], 2)
    assert later.version == 3


async def test_an_append_of_no_events_to_no_stream_creates_nothing(store: Store) -> None:
    result = await store.append("fresh", "Thing", [], "no_stream")
    assert (result.version, result.position, result.positions) == (0, 0, ())
    assert await store.stream_version("fresh") == 0
    assert (await store.append("fresh", "Thing", [new_event()], "no_stream")).version == 1
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("fresh", "Thing", [], "no_stream")
    assert caught.value.actual_version == 1
    with pytest.raises(ConcurrencyError):
        await store.append("missing", "Thing", [], "stream_exists")


async def test_append_many_with_an_empty_share_changes_only_the_others(store: Store) -> None:
    await store.append("idle", "Thing", [new_event()])
    results = await store.append_many(
        [StreamAppend("idle", "Thing", (), 1), StreamAppend("busy", "Thing", (new_event(),), "no_stream")]
    )
    assert [r.version for r in results] == [1, 1]
    assert await store.stream_version("idle") == 1
    with pytest.raises(ConcurrencyError):  # the empty share's expectation still guards the whole append
        await store.append_many(
            [StreamAppend("idle", "Thing", (), 5), StreamAppend("busy", "Thing", (new_event(),), 1)]
        )
    assert await store.stream_version("busy") == 1
