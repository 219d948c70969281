"""What ``sensorhub events archive`` and ``sensorhub events restore`` do (the CLI only parses options)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sensorhub.application.archiving import ArchiveProgress, archive_resolved_alerts
from sensorhub.db import connect
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.observability import get_logger
from sensorhub.settings import Settings

log = get_logger("sensorhub.archive")


async def archive_alerts(
    settings: Settings,
    *,
    older_than_days: float,
    batch_size: int,
    max_batches: int | None,
    echo: Callable[[str], None],
) -> ArchiveProgress:
    """Archive resolved alerts older than ``older_than_days``; progress after every batch (each its own
    transaction: a run stopped half-way keeps what it committed, and the next one goes on)."""
    before = datetime.now(UTC) - timedelta(days=older_than_days)

    def on_batch(p: ArchiveProgress) -> None:
        log.info("alert archive batch committed", batches=p.batches, streams=p.streams, events=p.events)
        echo(f"batch {p.batches}: {p.streams} alerts, {p.events} events archived so far")

    conn = await connect(settings.database_url)
    try:
        return await archive_resolved_alerts(
            PostgresEventStore(conn), before, batch_size=batch_size, max_batches=max_batches, on_batch=on_batch
        )
    finally:
        await conn.close()


async def restore_streams(settings: Settings, stream_ids: Sequence[str]) -> int:
    conn = await connect(settings.database_url)
    try:
        moved = await PostgresEventStore(conn).restore_streams(stream_ids)
    finally:
        await conn.close()
    log.info("streams restored from the archive", streams=list(stream_ids), events=moved)
    return moved
