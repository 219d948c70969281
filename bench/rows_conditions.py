"""Conditional appends (dynamic consistency boundaries): an append on condition "no event of
these types with this tag after P" against a plain append, with many tagged events stored."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from sensorhub.application.stored_events import AppendCondition, NewEvent, QueryItem
from sensorhub.eventstore.postgres import PostgresEventStore

from bench.context import Context
from bench.core import Measurement, RowResult, interleave, ratio_check, reported_ratio, summaries, timed_writers
from bench.rows_eventstore import payload

NAME_TYPES = ("DeviceRegistered", "DeviceRenamed", "DeviceMoved", "DeviceDecommissioned")

# Stored events with one name tag each (10 per stream), written in SQL: the condition's index scan
# then runs against a table of realistic size (sizes.projection_events rows: 1 M at full size).
_FILL = """
WITH inserted AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
    SELECT gen_random_uuid(), 'fill-' || (i / 10), i % 10 + 1, 'DeviceRenamed', 1,
           jsonb_build_object('device_id', 'fill-' || (i / 10), 'name', 'name ' || i), '{}'
      FROM generate_series(0, $1 - 1) AS i
    RETURNING position, type, data
)
INSERT INTO event_tags (tag, type, position)
SELECT 'device-name:4:fill/' || (data ->> 'name'), type, position FROM inserted
"""


async def conditional_append(ctx: Context) -> RowResult:
    sz = ctx.sizes
    stored = sz.projection_events
    started = time.perf_counter()
    async with ctx.pool.acquire() as conn:
        await conn.execute(_FILL, stored)
        await conn.execute("VACUUM (ANALYZE) events, event_tags")
    fill_s = time.perf_counter() - started
    store = PostgresEventStore(ctx.pool)
    writers, seconds = sz.append_writers, sz.append_seconds

    def variant(
        tag_prefix: str, *, tagged: bool, conditional: bool, read_first: bool = False
    ) -> Callable[[int], Awaitable[Measurement]]:
        async def run(r: int) -> Measurement:
            async def op(w: int, i: int) -> int:
                data, meta = payload(i)
                tag = f"device-name:5:bench/{tag_prefix}-{r}-{w}-{i}"
                event = NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta, (tag,) if tagged else ())
                condition = None
                if conditional:
                    item = QueryItem(NAME_TYPES, (tag,))
                    after = (await store.read_matching([item])).position if read_first else 0
                    condition = AppendCondition((item,), after)
                await store.append(f"{tag_prefix}-{r}-{w}", "Device", [event], i, condition)
                return 1

            return await timed_writers(writers, seconds, op)

        return run

    runs = await interleave(
        sz.rounds,
        {
            "plain append": variant("plain", tagged=False, conditional=False),
            "conditional append": variant("cond", tagged=True, conditional=True),
            "tagged append, no condition (diagnostic)": variant("tag", tagged=True, conditional=False),
            "read_matching + conditional append (diagnostic)": variant(
                "read", tagged=True, conditional=True, read_first=True
            ),
        },
    )
    row = RowResult(
        "conditional append (one tag, no match) vs plain append",
        ctx.engine,
        f"{writers} writers x {seconds:g} s, one event per append, distinct streams and tags,"
        f" {stored:,} tagged events stored",
        summaries(runs),
        [],
        notes=[f"filling {stored:,} tagged events took {fill_s:.1f} s"],
    )
    row.checks = [
        ratio_check(row, "conditional append", "plain append", 0.8, "conditional vs plain"),
        reported_ratio(
            row,
            "tagged append, no condition (diagnostic)",
            "plain append",
            "tagged, no condition vs plain (diagnostic)",
        ),
        reported_ratio(
            row,
            "read_matching + conditional append (diagnostic)",
            "plain append",
            "read + conditional vs plain (diagnostic)",
        ),
    ]
    return row


ROWS = {"conditional": conditional_append}

__all__ = ["ROWS"]
