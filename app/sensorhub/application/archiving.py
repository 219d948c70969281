"""Archiving resolved alerts: each batch of resolved alerts older than the cutoff moves, whole, to
the event store's archive (one transaction per batch), so a run killed half-way loses nothing and
the next run goes on from where it stands (what is archived is no longer a candidate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sensorhub.application.ports import StreamArchive
from sensorhub.domain.alert import Alert
from sensorhub.domain.alert_events import AlertAutoResolved, AlertResolved

# An alert's stream is closed once resolved: nothing can be appended to it any more (the aggregate
# refuses every command on a resolved alert), so archiving it changes no decision.
ALERT_CLOSED_BY = (AlertResolved.__name__, AlertAutoResolved.__name__)


@dataclass
class ArchiveProgress:
    batches: int = 0
    streams: int = 0
    events: int = 0


async def archive_resolved_alerts(
    archive: StreamArchive,
    before: datetime,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    on_batch: Callable[[ArchiveProgress], None] | None = None,
) -> ArchiveProgress:
    """Archive every alert whose resolution was recorded before ``before``, ``batch_size`` streams
    per transaction (at most ``max_batches`` batches); ``on_batch`` sees the running totals."""
    progress = ArchiveProgress()
    after = ""
    while max_batches is None or progress.batches < max_batches:
        ids = await archive.closed_streams(Alert.STREAM_TYPE, ALERT_CLOSED_BY, before, after=after, limit=batch_size)
        if not ids:
            break
        tombstones = await archive.archive_streams(ids)
        progress.batches += 1
        progress.streams += len(tombstones)
        progress.events += sum(t.event_count for t in tombstones)
        if on_batch is not None:
            on_batch(progress)
        after = ids[-1]
    return progress
