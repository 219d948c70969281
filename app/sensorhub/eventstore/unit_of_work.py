"""A unit of work on PostgreSQL: one connection for the whole command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import asyncpg

from sensorhub.application.ports import EventCodec, SubjectKeys
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork
from sensorhub.db import Conn
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.personal_data import PersonalDataEventStore
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.eventstore.subject_keys import NoSubjectKeys
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
    subject_keys: Callable[[Conn], SubjectKeys] | None = None,
) -> AsyncIterator[UnitOfWork]:
    """A unit of work on a connection from ``db`` (a pool), or on ``db`` itself (a connection):
    pass the connection of an open transaction (ingest does) and the events join that transaction
    (then that transaction's owner tells ``notifier`` once it committed). ``subject_keys`` on the
    same connection seal and open personal data (eventstore.personal_data); without them, personal
    data cannot be written and reads as erased."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield _unit_of_work(conn, codec, context, snapshot_every, notifier, subject_keys=subject_keys)
    else:
        yield _unit_of_work(db, codec, context, snapshot_every, notifier, subject_keys=subject_keys)


def _unit_of_work(
    conn: Conn,
    codec: EventCodec,
    context: CommandContext | None,
    snapshot_every: Mapping[str, int] | None,
    notifier: AppendNotifier | None,
    *,
    subject_keys: Callable[[Conn], SubjectKeys] | None,
) -> UnitOfWork:
    keys = subject_keys(conn) if subject_keys is not None else NoSubjectKeys()
    return UnitOfWork(
        PersonalDataEventStore(PostgresEventStore(conn, notifier=notifier), keys),
        codec,
        context=context,
        snapshot_every=snapshot_every,
        on_snapshot_error=lambda exc: log.warning("snapshot not saved", error=repr(exc)),
    )
