"""Projection bookkeeping in PostgreSQL: checkpoints, generations, rebuild requests, heartbeats, lag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from sensorhub.application.stored_events import FeedCursor
from sensorhub.db import Conn

# pg_advisory_lock(LOCK_CLASS, hashtext(name)) is held by the leader of a projection.
LOCK_CLASS = 0x5E5E_0002
REBUILD_CHANNEL = "sensorhub_projections"


@dataclass(frozen=True)
class Checkpoint:
    cursor: FeedCursor
    events_applied: int


@dataclass(frozen=True)
class Generations:
    live: int
    shadow: int | None
    rebuild_requested: bool


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag_events: int
    lag_seconds: float
    state: str
    generation: int
    leader: str | None
    heartbeat_at: datetime | None
    rebuild_position: int | None


async def try_lead(conn: Conn, name: str) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, name))


async def checkpoint(conn: Conn, name: str, generation: int) -> Checkpoint:
    row = await conn.fetchrow(
        'SELECT transaction_id::text AS tx, "position", events_applied FROM projection_checkpoints'
        " WHERE name = $1 AND generation = $2",
        name,
        generation,
    )
    if row is None:
        raise LookupError(f"projection {name!r} has no generation {generation}")
    return Checkpoint(FeedCursor(int(row["tx"]), row["position"]), row["events_applied"])


async def advance(conn: Conn, name: str, generation: int, *, old: FeedCursor, new: FeedCursor, count: int) -> None:
    """Move the checkpoint, fenced on its old value: a second writer (which the leader lock
    already prevents) would find it moved and roll back instead of applying twice."""
    moved = await conn.fetchval(
        'UPDATE projection_checkpoints SET transaction_id = $5::text::xid8, "position" = $6,'
        " events_applied = events_applied + $7, updated_at = now()"
        ' WHERE name = $1 AND generation = $2 AND transaction_id = $3::text::xid8 AND "position" = $4'
        " RETURNING true",
        name,
        generation,
        str(old.transaction_id),
        old.position,
        str(new.transaction_id),
        new.position,
        count,
    )
    if not moved:
        raise RuntimeError(f"checkpoint of {name} g{generation} moved under this batch; another leader is active")


async def generations(conn: Conn, name: str) -> Generations:
    row = await conn.fetchrow(
        "SELECT live_generation, shadow_generation, rebuild_requested_at IS NOT NULL AS requested"
        " FROM projections WHERE name = $1",
        name,
    )
    if row is None:
        raise LookupError(f"no projection named {name!r}")
    return Generations(row["live_generation"], row["shadow_generation"], row["requested"])


async def heartbeat(conn: Conn, name: str, holder: str) -> None:
    await conn.execute("UPDATE projections SET leader = $2, heartbeat_at = now() WHERE name = $1", name, holder)


async def request_rebuild(conn: Conn, name: str) -> bool:
    """Ask the projection's leader to rebuild it; False for an unknown name."""
    found = await conn.fetchval(
        "UPDATE projections SET rebuild_requested_at = now() WHERE name = $1 RETURNING true", name
    )
    if found:
        await conn.execute("SELECT pg_notify($1, $2)", REBUILD_CHANNEL, name)
    return bool(found)


async def names(conn: Conn) -> list[str]:
    return [r["name"] for r in await conn.fetch("SELECT name FROM projections ORDER BY name")]


async def rebuilt_at(conn: Conn, name: str) -> datetime | None:
    """When the projection was last rebuilt and swapped in (None: never, or no such projection)."""
    return await conn.fetchval("SELECT rebuilt_at FROM projections WHERE name = $1", name)


async def swapped_in_since(conn: Conn, name: str, before: datetime | None) -> datetime | None:
    """The time of a rebuild swapped in after ``before`` with nothing pending; None until then."""
    row = await conn.fetchrow(
        "SELECT rebuilt_at, shadow_generation, rebuild_requested_at FROM projections WHERE name = $1", name
    )
    if row is None or row["rebuilt_at"] == before or row["shadow_generation"] is not None:
        return None
    return None if row["rebuild_requested_at"] else row["rebuilt_at"]


async def start_shadow(conn: Conn, name: str) -> int:
    """Create an empty next generation to replay into (dropping a leftover of an abandoned rebuild)."""
    async with conn.transaction():
        live, shadow = await _generations_for_update(conn, name)
        if shadow is not None:
            return shadow
        new = live + 1
        await conn.execute("SELECT rm_drop_generation($1, $2)", name, new)
        await conn.execute("SELECT rm_create_generation($1, $2)", name, new)
        await conn.execute(
            "UPDATE projections SET shadow_generation = $2, rebuild_requested_at = NULL, rebuild_started_at = now()"
            " WHERE name = $1",
            name,
            new,
        )
        return new


# How long the swap waits for the views' locks before it gives up until the next try. Readers lock a
# projection's views in their own order (a query over rm_alerts with an EXISTS on rm_devices takes
# rm_alerts first, the swap replaces rm_devices first): a swap that waited as long as the server's
# deadlock_timeout (1 s) could end in a deadlock whose victim is a reader's request. Under it, the
# swap is the one to yield, and tries again after the next batch.
SWAP_LOCK_TIMEOUT = "250ms"


async def swap_if_caught_up(conn: Conn, name: str) -> int | None:
    """Make the shadow generation live when it has applied at least what the live one has;
    returns the generation retired (drop it afterwards), or None when not yet caught up or when
    readers held the views longer than ``SWAP_LOCK_TIMEOUT`` (nothing changed; try again later)."""
    try:
        async with conn.transaction():
            live, shadow = await _generations_for_update(conn, name)
            if shadow is None:
                return None
            live_cp, shadow_cp = await checkpoint(conn, name, live), await checkpoint(conn, name, shadow)
            if shadow_cp.cursor < live_cp.cursor:
                return None
            await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
            await conn.execute("SELECT rm_use_generation($1, $2)", name, shadow)
            await conn.execute(
                "UPDATE projections SET shadow_generation = NULL, rebuilt_at = now() WHERE name = $1", name
            )
            return live
    except asyncpg.LockNotAvailableError:
        return None


async def _generations_for_update(conn: Conn, name: str) -> tuple[int, int | None]:
    row = await conn.fetchrow(
        "SELECT live_generation, shadow_generation FROM projections WHERE name = $1 FOR UPDATE", name
    )
    if row is None:
        raise LookupError(f"no projection named {name!r}")
    return row["live_generation"], row["shadow_generation"]


async def drop_generation(conn: Conn, name: str, generation: int) -> None:
    await conn.execute("SELECT rm_drop_generation($1, $2)", name, generation)


_STATUS = """
SELECT p.name, p.live_generation, p.shadow_generation, p.leader, p.heartbeat_at,
       p.rebuild_requested_at IS NOT NULL AS rebuild_requested,
       c."position",
       now() - p.heartbeat_at < make_interval(secs => $1) AS fresh,
       (SELECT count(*) FROM events e
         WHERE (e.transaction_id, e."position") > (c.transaction_id, c."position")) AS lag_events,
       (SELECT extract(epoch FROM clock_timestamp() - e.recorded_at) FROM events e
         WHERE (e.transaction_id, e."position") > (c.transaction_id, c."position")
         ORDER BY e.transaction_id, e."position" LIMIT 1) AS lag_seconds,
       s."position" AS shadow_position
  FROM projections p
  JOIN projection_checkpoints c ON c.name = p.name AND c.generation = p.live_generation
  LEFT JOIN projection_checkpoints s ON s.name = p.name AND s.generation = p.shadow_generation
 WHERE $2::text IS NULL OR p.name = $2
 ORDER BY p.name
"""


async def status(conn: Conn, heartbeat_timeout_s: float, name: str | None = None) -> list[ProjectionStatus]:
    """Position, lag (events not applied, age of the oldest of them) and state of each projection."""
    out: list[ProjectionStatus] = []
    for r in await conn.fetch(_STATUS, heartbeat_timeout_s, name):
        if not r["fresh"]:
            state = "stopped"
        elif r["shadow_generation"] is not None:
            state = "rebuilding"
        elif r["rebuild_requested"]:
            state = "rebuild_pending"
        else:
            state = "running" if r["lag_events"] == 0 else "catching_up"
        out.append(
            ProjectionStatus(
                name=r["name"],
                position=r["position"],
                lag_events=int(r["lag_events"]),
                lag_seconds=max(0.0, float(r["lag_seconds"] or 0.0)),
                state=state,
                generation=r["live_generation"],
                leader=r["leader"],
                heartbeat_at=r["heartbeat_at"],
                rebuild_position=r["shadow_position"],
            )
        )
    return out


async def reached(conn: Conn, names: tuple[str, ...], position: int) -> bool | None:
    """Whether every projection in ``names`` has applied the event at ``position``; None when no
    event has that position. Feed order is (transaction id, position), so compare cursors."""
    return await conn.fetchval(
        'SELECT bool_and((e.transaction_id, e."position") <= (c.transaction_id, c."position"))'
        "  FROM (SELECT transaction_id, \"position\" FROM events WHERE \"position\" = $2"
        "        UNION ALL SELECT transaction_id, \"position\" FROM events_archive WHERE \"position\" = $2) e,"
        "       projections p"
        "  JOIN projection_checkpoints c ON c.name = p.name AND c.generation = p.live_generation"
        " WHERE p.name = ANY($1::text[])",
        list(names),
        position,
    )


async def live_stamp(conn: Conn, name: str) -> str | None:
    """The live generation and checkpoint as a cache stamp (see ``cache``)."""
    row = await conn.fetchrow(
        'SELECT p.live_generation AS g, c.transaction_id::text AS tx, c."position" AS pos FROM projections p'
        " JOIN projection_checkpoints c ON c.name = p.name AND c.generation = p.live_generation WHERE p.name = $1",
        name,
    )
    return None if row is None else stamp_of(row["g"], FeedCursor(int(row["tx"]), row["pos"]))


def stamp_of(generation: int, cursor: FeedCursor) -> str:
    return f"{generation}.{cursor.transaction_id}.{cursor.position}"
