"""Where a conditional append's time goes, next to the plain append of the bench row (issue 17).

    python -m bench.condition_profile postgresql://postgres@127.0.0.1:PORT/postgres [stored] [appends]

Creates (and drops) a database ``condition_profile`` holding ``stored`` tagged events (default
1,000,000, as the row at full size), then measures the client's and the server's CPU per append,
one append after another on one connection (robust to a loaded machine, unlike throughput), with
commits not waiting for the disk (``synchronous_commit = off``: the flush is the same for all):
the plain append, a tagged one, a conditional one (the store's statements; also with the event
carrying two tags, as a rename does: the condition's and another), and the tagged and
conditional appends through the PL/pgSQL function the store called for them before (as it called
it). 5 interleaved rounds, medians.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sensorhub import migrations
from sensorhub.application.stored_events import AppendCondition, NewEvent, QueryItem
from sensorhub.db import init_connection
from sensorhub.eventstore.postgres import PostgresEventStore

from bench.append_profile import sequential_cpu
from bench.rows_conditions import _FILL, NAME_TYPES
from bench.rows_eventstore import payload

ROUNDS = 5
PER_STREAM = 50  # appends per stream: versions stay small, streams few


async def main(url: str, stored: int, n: int) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute("DROP DATABASE IF EXISTS condition_profile")
    await admin.execute("CREATE DATABASE condition_profile")
    conn = await asyncpg.connect(url.rsplit("/", 1)[0] + "/condition_profile")
    try:
        await init_connection(conn)
        await migrations.apply(conn)
        await conn.execute(_FILL, stored)
        await conn.execute("VACUUM (ANALYZE) events, event_tags")
        await conn.execute("SET synchronous_commit = off")
        store = PostgresEventStore(conn)

        def variant(
            prefix: str, *, tagged: bool, conditional: bool, before: bool = False, renamed: bool = False
        ) -> Callable[..., Any]:
            def op(r: int, i: int) -> Awaitable[Any]:
                data, meta = payload(i)
                tag = f"device-name:5:bench/{prefix}-{r}-{i}"
                tags = (f"device-name:5:bench/{prefix}-{r}-{i}-old", tag) if renamed else (tag,)
                event = NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta, tags if tagged else ())
                condition = AppendCondition((QueryItem(NAME_TYPES, (tag,)),), 0) if conditional else None
                stream, expected = f"{prefix}-{r}-{i % PER_STREAM}", i // PER_STREAM
                if before:  # the PL/pgSQL path, as append() sent a tagged event until issue 17's statement
                    return store._append_rows(stream, "Device", [event], str(expected), condition)
                return store.append(stream, "Device", [event], expected, condition)

            return op

        variants = {
            "plain append": variant("p", tagged=False, conditional=False),
            "tagged append, no condition": variant("t", tagged=True, conditional=False),
            "conditional append": variant("c", tagged=True, conditional=True),
            "conditional append, two tags (a rename: old and new name)": variant(
                "r", tagged=True, conditional=True, renamed=True
            ),
            "before: tagged, PL/pgSQL function": variant("bt", tagged=True, conditional=False, before=True),
            "before: conditional, PL/pgSQL function": variant("bc", tagged=True, conditional=True, before=True),
        }
        results: dict[str, list[tuple[float, float]]] = {}
        for r in range(ROUNDS):
            for name, op in variants.items():
                results.setdefault(name, []).append(await sequential_cpu(conn, n, functools.partial(op, r)))
        print(f"{stored:,} tagged events stored; sequential, one connection, {n} appends x {ROUNDS} rounds")
        print("| variant | client CPU µs | server CPU µs | total | vs plain |")
        print("|---|---|---|---|---|")
        plain = sum(statistics.median(x[k] for x in results["plain append"]) for k in (0, 1))
        for name, runs in results.items():
            c, s = statistics.median(x[0] for x in runs), statistics.median(x[1] for x in runs)
            print(f"| {name} | {c:.0f} | {s:.0f} | {c + s:.0f} | {plain / (c + s):.2f}x |")
    finally:
        await conn.close()
        await admin.execute("DROP DATABASE IF EXISTS condition_profile WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1],
            int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000,
            int(sys.argv[3]) if len(sys.argv) > 3 else 1000,
        )
    )
