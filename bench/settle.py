"""Before a query row measures: the database as a running system keeps its past data.

In a running system, autovacuum vacuumed and analysed a past day long ago and checkpoints wrote its
pages out. A bench that has just loaded that day (and whose ingest rows have just churned
``latest_readings``, ``ingest_upkeep`` and the rollup marks) would otherwise time its queries
against autovacuum workers picking those tables up, the checkpointer writing the load out, and
first reads setting hint bits. ``settle`` does that upkeep first, so the row measures the query.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

_AUTOVACUUM_BUSY = """
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'autovacuum worker' AND datname = current_database()
"""


async def settle(pool: asyncpg.Pool, wait_s: float = 120.0) -> str:
    """VACUUM (ANALYZE) every table of the database, CHECKPOINT, then wait (at most ``wait_s``
    seconds) until no autovacuum worker runs in it; return what was done, for the row's workload."""
    async with pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE)")
        try:
            await conn.execute("CHECKPOINT")
            done = "VACUUM (ANALYZE) of every table, CHECKPOINT"
        except asyncpg.InsufficientPrivilegeError:  # a --server whose role may not checkpoint
            done = "VACUUM (ANALYZE) of every table (no CHECKPOINT: not allowed to this role)"
        deadline = time.monotonic() + wait_s
        while await conn.fetchval(_AUTOVACUUM_BUSY):
            if time.monotonic() > deadline:
                return f"{done}; an autovacuum worker was still running after {wait_s:.0f} s"
            await asyncio.sleep(0.2)
    return f"{done}, no autovacuum worker running"
