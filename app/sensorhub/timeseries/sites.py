"""Per-site summary: devices, active devices, open alerts by severity, readings in the last hour.

Devices and alerts come from the event store here (one scan of the device and alert events, correct
but O(events)); once the read models of issue 4 exist this should read ``device_view`` (device_id,
site, status) and ``alert_view`` (alert_id, device_id, severity, status) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sensorhub.db import Conn
from sensorhub.timeseries.store import TimeSeriesStore

_SITE_DEVICES = """
WITH placed AS (
    SELECT DISTINCT ON (stream_id) stream_id AS device_id, data->>'site' AS site
    FROM events WHERE type IN ('DeviceRegistered', 'DeviceMoved')
    ORDER BY stream_id, stream_version DESC
)
SELECT p.device_id,
       EXISTS (SELECT 1 FROM events e WHERE e.stream_id = p.device_id AND e.type = 'DeviceDecommissioned') AS gone
FROM placed p WHERE p.site = $1
ORDER BY p.device_id
"""

_OPEN_ALERTS = """
SELECT a.data->>'severity' AS severity, count(*) AS n
FROM events a
WHERE a.type = 'AlertRaised' AND a.data->>'device_id' = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM events r WHERE r.stream_id = a.stream_id
                  AND r.type IN ('AlertResolved', 'AlertAutoResolved'))
GROUP BY 1
"""


@dataclass(frozen=True)
class SiteSummary:
    site: str
    devices: int
    active: int
    open_alerts: dict[str, int]
    readings_last_hour: int


async def site_summary(conn: Conn, store: TimeSeriesStore, site: str, now: datetime) -> SiteSummary | None:
    devices = await conn.fetch(_SITE_DEVICES, site)
    if not devices:
        return None
    ids = [d["device_id"] for d in devices]
    alerts = {r["severity"]: int(r["n"]) for r in await conn.fetch(_OPEN_ALERTS, ids)}
    by_severity = {s: alerts.get(s, 0) for s in ("info", "warning", "critical")}
    recent = await store.count_since(conn, ids, now - timedelta(hours=1))
    active = sum(1 for d in devices if not d["gone"])
    return SiteSummary(site, len(devices), active, by_severity, recent)
