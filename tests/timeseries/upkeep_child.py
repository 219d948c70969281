"""A child process for ``test_upkeep.py``: ingests batches ``first..last`` (see ``batch``) with the
upkeep drain off (``commit``: killed between its commits and their upkeep) or inline (``drain``:
killed while it drains), printing ``committed N`` after each acknowledged batch.

    python -m tests.timeseries.upkeep_child URL MODE FIRST LAST
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
from sensorhub.application.unit_of_work import CommandContext
from sensorhub.db import init_connection
from sensorhub.eventstore.event_types import build_registry
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import parse_json
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.timeseries.store import TimeSeriesStore

from tests.timeseries.conftest import NOW, reading

DEVICES = ("k1", "k2", "k3")
METRICS = ("temp", "hum")
START = NOW - timedelta(hours=3)
APPLICATION = "upkeep-child"  # its sessions, as pg_stat_activity names them


def batch(n: int) -> list[dict[str, Any]]:
    """Batch ``n``: 20 readings per series, 20 s apart, 10 min after batch ``n - 1`` (so batches
    cross hours), plus the last 5 readings of batch ``n - 1`` again (duplicates)."""
    rows = []
    for i in range(-5 if n else 0, 20):
        at = START + timedelta(seconds=20 * (30 * n + i))
        for d in DEVICES:
            for m in METRICS:
                rows.append(reading(d, m, at, 20.0 + ((7 * n + 3 * i + len(d + m)) % 23)))
    return rows


async def main(url: str, mode: str, first: int, last: int) -> None:
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=2, init=init_connection, server_settings={"application_name": APPLICATION}
    )
    async with pool.acquire() as conn:
        store = await TimeSeriesStore.open(conn)
    registry = build_registry()
    ingest = ReadingsIngest(
        pool, store, EventStoreDeviceCatalog(registry), registry, retention_days=30, clock=lambda: NOW,
        upkeep_delay=None if mode == "drain" else 3600.0,
    )
    for n in range(first, last + 1):
        await ingest.ingest(parse_json(msgspec.json.encode({"readings": batch(n)})), CommandContext(actor="child"))
        print(f"committed {n}", flush=True)
    print("done", flush=True)
    await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
