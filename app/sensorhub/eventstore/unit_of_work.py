"""A unit of work on PostgreSQL: one connection for the whole command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg

from sensorhub.application.ports import EventCodec
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork
from sensorhub.db import Conn
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.observability import get_logger

log = get_logger("sensorhub.eventstore")


@asynccontextmanager
async def postgres_unit_of_work(
    db: asyncpg.Pool | Conn,
    codec: EventCodec,
    *,
    context: CommandContext | None = None,
    snapshot_every: Mapping[str, int] | None = None,
    notifier: AppendNotifier | None = None,
) -> AsyncIterator[UnitOfWork]:
    """A unit of work on a connection from ``db`` (a pool), or on ``db`` itself (a connection):
    pass the connection of an open transaction (ingest does) and the events join that transaction
    (then that transaction's owner tells ``notifier`` once it committed)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield _unit_of_work(conn, codec, context, snapshot_every, notifier)
    else:
        yield _unit_of_work(db, codec, context, snapshot_every, notifier)


def _unit_of_work(
    conn: Conn,
    codec: EventCodec,
    context: CommandContext | None,
    snapshot_every: Mapping[str, int] | None,
    notifier: AppendNotifier | None,
) -> UnitOfWork:
    return UnitOfWork(
        PostgresEventStore(conn, notifier=notifier),
        codec,
        context=context,
        snapshot_every=snapshot_every,
        on_snapshot_error=lambda exc: log.warning("snapshot not saved", error=repr(exc)),
    )
