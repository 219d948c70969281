"""Per-site summary: devices, active devices, open alerts by severity, readings in the last hour.

Devices and alerts come from the ``registry`` read model (``projections.queries.site_counts``,
index lookups on ``rm_devices (site, device_id)``), so they are as fresh as the projection:
eventually consistent, and exact once the projector has caught up (read-your-writes with
``min_position``, see ``http/reads.py``). Readings come from the time-series store and are
never behind. Everything is read in one snapshot, so the counts agree with each other even
while a batch commits or a rebuild swaps generations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sensorhub.db import Conn
from sensorhub.projections import queries
from sensorhub.timeseries.store import TimeSeriesStore


@dataclass(frozen=True)
class SiteSummary:
    site: str
    devices: int
    active: int
    open_alerts: dict[str, int]
    readings_last_hour: int


async def site_summary(conn: Conn, store: TimeSeriesStore, site: str, now: datetime) -> SiteSummary | None:
    """None when the read model knows no device (active or decommissioned) at ``site``."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        counts = await queries.site_counts(conn, site)
        if counts.devices == 0:
            return None
        ids = await queries.site_device_ids(conn, site)
        recent = await store.count_since(conn, ids, now - timedelta(hours=1))
    return SiteSummary(site, counts.devices, counts.active, counts.open_alerts, recent)
