"""Conditions across streams (dynamic consistency boundaries), on every backend: events carry
tags; an append may require "no event of these types with these tags after position P"."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sensorhub.application.errors import AppendConditionFailed, ConcurrencyError
from sensorhub.application.stored_events import AppendCondition, NewEvent, QueryItem, StreamAppend

from tests.integration.eventstore.support import Store, new_event

CLAIMS = ("Claimed", "Released")


def claim(*tags: str, type_: str = "Claimed") -> NewEvent:
    return replace(new_event(type_), tags=tags)


def about(tag: str) -> QueryItem:
    return QueryItem(CLAIMS, (tag,))


async def test_read_matching_finds_events_by_type_and_every_tag_across_streams(store: Store) -> None:
    await store.append("a", "Thing", [claim("name:x", "site:1"), claim("name:y", "site:1")])
    await store.append("b", "Thing", [claim("name:x", "site:2"), new_event("Claimed"), claim("name:x", type_="Other")])
    found = await store.read_matching([about("name:x")])
    assert [(e.stream_id, e.stream_version) for e in found.events] == [("a", 1), ("b", 1)]
    assert found.position == found.events[-1].position
    both = await store.read_matching([QueryItem(CLAIMS, ("name:x", "site:2"))])
    assert [(e.stream_id, e.stream_version) for e in both.events] == [("b", 1)]
    any_type = await store.read_matching([QueryItem((), ("name:x",))])
    assert [e.type for e in any_type.events] == ["Claimed", "Claimed", "Other"]
    either = await store.read_matching([about("name:y"), QueryItem(CLAIMS, ("site:2",))])
    assert [(e.stream_id, e.stream_version) for e in either.events] == [("a", 2), ("b", 1)]
    nothing = await store.read_matching([about("name:z")])
    assert (nothing.events, nothing.position) == ([], 0)


async def test_a_condition_fails_only_on_a_matching_event_after_its_position(store: Store) -> None:
    await store.append("a", "Thing", [claim("name:x")])
    seen = await store.read_matching([about("name:x")])
    condition = AppendCondition((about("name:x"),), seen.position)
    # not matching: another tag, another type, or only some of an item's tags
    await store.append("b", "Thing", [claim("name:y")])
    await store.append("b", "Thing", [claim("name:x", type_="Other")])
    two_tags = AppendCondition((QueryItem(CLAIMS, ("name:x", "site:1")),), seen.position)
    await store.append("b", "Thing", [claim("site:1")])
    written = await store.append("c", "Thing", [claim("name:x")], "no_stream", condition)
    assert written.version == 1
    with pytest.raises(AppendConditionFailed) as caught:
        await store.append("d", "Thing", [claim("name:x")], "no_stream", condition)
    assert (caught.value.position, caught.value.event_type, caught.value.tag) == (written.position, "Claimed", "name:x")
    assert caught.value.after == seen.position
    assert "read the matching events again" in str(caught.value)
    assert await store.stream_version("d") == 0
    await store.append("d", "Thing", [claim("name:x")], "no_stream", two_tags)  # c has no site:1 tag


async def test_a_retried_conditional_append_replays_instead_of_failing_on_itself(store: Store) -> None:
    seen = await store.read_matching([about("name:x")])
    events = [claim("name:x"), claim("name:x", type_="Released")]
    condition = AppendCondition((about("name:x"),), seen.position)
    first = await store.append("a", "Thing", events, "no_stream", condition)
    again = await store.append("a", "Thing", events, "no_stream", condition)
    assert again.replayed
    assert again.positions == first.positions
    assert len((await store.read_matching([about("name:x")])).events) == 2  # tags written once


async def test_append_many_with_a_condition_is_all_or_nothing(store: Store) -> None:
    await store.append("holder", "Thing", [claim("name:x")])
    stale = AppendCondition((about("name:x"),), 0)
    with pytest.raises(AppendConditionFailed):
        await store.append_many(
            [
                StreamAppend("a", "Thing", (claim("name:y"),), "no_stream"),
                StreamAppend("b", "Thing", (new_event(),), "any"),
            ],
            stale,
        )
    assert await store.stream_version("a") == await store.stream_version("b") == 0
    fresh = AppendCondition((about("name:x"),), (await store.read_matching([about("name:x")])).position)
    results = await store.append_many(
        [
            StreamAppend("b", "Thing", (new_event(),), "any"),
            StreamAppend("a", "Thing", (claim("name:x"),), "no_stream"),
        ],
        fresh,
    )
    assert [r.version for r in results] == [1, 1]
    with pytest.raises(ConcurrencyError):  # a condition that holds does not excuse a failed expectation
        await store.append("a", "Thing", [claim("name:z")], "no_stream", AppendCondition((about("name:z"),), 0))


async def test_an_empty_append_with_a_condition_only_checks(store: Store) -> None:
    await store.append("a", "Thing", [claim("name:x")])
    with pytest.raises(AppendConditionFailed):
        await store.append("b", "Thing", [], "any", AppendCondition((about("name:x"),), 0))
    result = await store.append("b", "Thing", [], "any", AppendCondition((about("name:y"),), 0))
    assert (result.version, result.positions) == (0, ())


def test_a_query_item_needs_a_tag() -> None:
    with pytest.raises(ValueError, match="at least one tag"):
        QueryItem(CLAIMS, ())


async def test_a_condition_of_several_items_fails_on_any_of_them(store: Store) -> None:
    condition = AppendCondition((about("name:x"), QueryItem(("Released",), ("name:y",))), 0)
    await store.append("a", "Thing", [claim("name:y")])  # Claimed: not what the second item asks for
    await store.append("b", "Thing", [claim("name:z")], "no_stream", condition)
    await store.append("a", "Thing", [claim("name:y", type_="Released")])
    for events in ([claim("name:z")], [claim("name:z"), claim("name:w")]):
        with pytest.raises(AppendConditionFailed) as caught:
            await store.append("c", "Thing", events, "no_stream", condition)
        assert (caught.value.event_type, caught.value.tag) == ("Released", "name:y")
