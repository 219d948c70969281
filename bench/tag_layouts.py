"""Tag layouts for conditional appends, measured side by side (docs/eventstore.md, "Tag layout").

    python -m bench.tag_layouts postgresql://.../db [events]

A: ``event_tags (tag, type, position)`` with a B-tree primary key (what migration 0008 ships);
B: a ``tags text[]`` column on the event row with a GIN index (default ``fastupdate``).
For each: the time to write ``events`` events with two tags each (batches of 500), the index
size, and the condition check ("a matching event after P?") for an absent tag and for a tag
present once, before and after VACUUM (GIN's pending list is what slows it between vacuums).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import asyncpg

SETUP = """
DROP TABLE IF EXISTS layout_a_events, layout_a_tags, layout_b_events;
CREATE TABLE layout_a_events (position bigint PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL);
CREATE TABLE layout_a_tags (tag text NOT NULL, type text NOT NULL, position bigint NOT NULL,
                            PRIMARY KEY (tag, type, position));
CREATE TABLE layout_b_events (position bigint PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL,
                              tags text[] NOT NULL);
CREATE INDEX layout_b_tags ON layout_b_events USING gin (tags);
"""
WRITE_A = """
WITH e AS (INSERT INTO layout_a_events SELECT p, 'DeviceRenamed', '{"name": "x"}' FROM unnest($1::bigint[]) p
           RETURNING position, type)
INSERT INTO layout_a_tags SELECT 'device-name:4:site/' || e.position, e.type, e.position FROM e
UNION ALL SELECT 'site:' || (e.position % 100), e.type, e.position FROM e
"""
WRITE_B = """
INSERT INTO layout_b_events SELECT p, 'DeviceRenamed', '{"name": "x"}',
       ARRAY['device-name:4:site/' || p, 'site:' || (p % 100)] FROM unnest($1::bigint[]) p
"""
CHECK_A = (
    "SELECT position FROM layout_a_tags WHERE tag = $1 AND type = ANY ($2::text[]) AND position > $3"
    " ORDER BY position LIMIT 1"
)
# Only whether one exists: with ORDER BY position LIMIT 1 the planner walks the position index and
# filters every row by its tags instead (~100 ms per check at 200 k events, measured).
CHECK_B = (
    "SELECT position FROM layout_b_events WHERE tags @> ARRAY[$1] AND type = ANY ($2::text[]) AND position > $3"
    " LIMIT 1"
)
TYPES = ["DeviceRegistered", "DeviceRenamed", "DeviceMoved", "DeviceDecommissioned"]


async def timed_checks(conn: asyncpg.Connection, sql: str, tags: list[str]) -> float:
    """Median milliseconds of one check."""
    times = []
    for tag in tags:
        start = time.perf_counter()
        await conn.fetchval(sql, tag, TYPES, 0)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main(url: str, events: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SETUP)
        for name, write in (("A B-tree tag table", WRITE_A), ("B GIN on text[]", WRITE_B)):
            start = time.perf_counter()
            for first in range(1, events + 1, 500):
                await conn.execute(write, list(range(first, min(first + 500, events + 1))))
            write_s = time.perf_counter() - start
            table = "layout_a_tags" if write is WRITE_A else "layout_b_events"
            check = CHECK_A if write is WRITE_A else CHECK_B
            index = "layout_a_tags_pkey" if write is WRITE_A else "layout_b_tags"
            present = [f"device-name:4:site/{p}" for p in range(1, events, max(1, events // 500))]
            absent = [f"device-name:4:nowhere/{p}" for p in range(500)]
            before = (await timed_checks(conn, check, absent), await timed_checks(conn, check, present))
            await conn.execute(f"VACUUM (ANALYZE) {table}")
            after = (await timed_checks(conn, check, absent), await timed_checks(conn, check, present))
            size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size($1::regclass))", index)
            print(
                f"{name}: write {events / write_s:,.0f} events/s; index {size}; check p50 ms absent/present "
                f"{before[0]:.3f}/{before[1]:.3f} before VACUUM, {after[0]:.3f}/{after[1]:.3f} after"
            )
        await conn.execute("DROP TABLE layout_a_events, layout_a_tags, layout_b_events")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000))
