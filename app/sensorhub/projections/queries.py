"""Reads over the read-model views (never the generation tables): devices, alerts, alert
history, and per-site counts. Keyset pagination: callers pass the last key they saw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sensorhub.db import Conn

Row = dict[str, Any]


async def devices(
    conn: Conn, *, site: str | None, status: str | None, kind: str | None, after: str | None, limit: int
) -> list[Row]:
    rows = await conn.fetch(
        "SELECT * FROM rm_devices WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR device_id > $4)"
        " ORDER BY device_id LIMIT $5",
        site,
        status,
        kind,
        after,
        limit,
    )
    return [dict(r) for r in rows]


async def device(conn: Conn, device_id: str) -> Row | None:
    row = await conn.fetchrow("SELECT * FROM rm_devices WHERE device_id = $1", device_id)
    return None if row is None else dict(row)


async def last_seen(conn: Conn, device_ids: list[str]) -> dict[str, datetime]:
    """Time of each device's newest reading, from the time-series store's ``latest_readings_now``."""
    if not device_ids:
        return {}
    rows = await conn.fetch(
        "SELECT device_id, max(time) AS seen FROM latest_readings_now WHERE device_id = ANY($1::text[]) "
        "GROUP BY device_id",
        device_ids,
    )
    return {r["device_id"]: r["seen"] for r in rows}


async def alerts(
    conn: Conn,
    *,
    status: str | None,
    severity: str | None,
    site: str | None,
    device_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    """Newest raised first. ``site`` is the device's current site."""
    after_time, after_id = after if after is not None else (None, None)
    rows = await conn.fetch(
        "SELECT a.*, EXISTS (SELECT 1 FROM archived_streams x WHERE x.stream_id = a.alert_id) AS archived"
        " FROM rm_alerts a"
        " WHERE ($1::text IS NULL OR a.status = $1) AND ($2::text IS NULL OR a.severity = $2)"
        " AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM rm_devices d WHERE d.device_id = a.device_id AND d.site = $3))"
        " AND ($4::text IS NULL OR a.device_id = $4)"
        " AND ($5::timestamptz IS NULL OR (a.raised_at, a.alert_id) < ($5, $6::text))"
        " ORDER BY a.raised_at DESC, a.alert_id DESC LIMIT $7",
        status,
        severity,
        site,
        device_id,
        after_time,
        after_id,
        limit,
    )
    return [dict(r) for r in rows]


async def alert(conn: Conn, alert_id: str) -> Row | None:
    row = await conn.fetchrow("SELECT * FROM rm_alerts WHERE alert_id = $1", alert_id)
    return None if row is None else dict(row)


async def alert_history(
    conn: Conn,
    *,
    device_id: str | None,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row]:
    """Transitions in ``[start, end)``, oldest first."""
    after_time, after_pos = after if after is not None else (None, None)
    rows = await conn.fetch(
        'SELECT "time", device_id, alert_id, metric, severity, transition, value, actor, "position"'
        ' FROM rm_alert_history WHERE ($1::text IS NULL OR device_id = $1) AND "time" >= $2 AND "time" < $3'
        ' AND ($4::timestamptz IS NULL OR ("time", "position") > ($4, $5::bigint))'
        ' ORDER BY "time", "position" LIMIT $6',
        device_id,
        start,
        end,
        after_time,
        after_pos,
        limit,
    )
    return [dict(r) for r in rows]


async def alert_history_buckets(
    conn: Conn, *, device_id: str | None, start: datetime, end: datetime, bucket_s: int
) -> list[Row]:
    """Transition counts per bucket (aligned to the epoch, UTC); empty buckets are absent.
    Plain SQL so every time-series engine answers the same."""
    rows = await conn.fetch(
        'SELECT to_timestamp(floor(extract(epoch FROM "time") / $4) * $4) AS bucket,'
        " count(*) AS total,"
        " count(*) FILTER (WHERE transition = 'raised') AS raised,"
        " count(*) FILTER (WHERE transition = 'acknowledged') AS acknowledged,"
        " count(*) FILTER (WHERE transition = 'resolved') AS resolved,"
        " count(*) FILTER (WHERE transition = 'auto_resolved') AS auto_resolved"
        ' FROM rm_alert_history WHERE ($1::text IS NULL OR device_id = $1) AND "time" >= $2 AND "time" < $3'
        " GROUP BY 1 ORDER BY 1",
        device_id,
        start,
        end,
        bucket_s,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class SiteCounts:
    """What the read models know about a site (``GET /v1/sites/{site}/summary`` adds readings)."""

    site: str
    devices: int
    active: int
    open_alerts: dict[str, int]  # by severity: info, warning, critical (open or acknowledged)


async def site_counts(conn: Conn, site: str) -> SiteCounts:
    row = await conn.fetchrow(
        "SELECT count(*) AS devices, count(*) FILTER (WHERE status = 'active') AS active"
        " FROM rm_devices WHERE site = $1",
        site,
    )
    by_severity = await conn.fetch(
        "SELECT a.severity, count(*) AS n FROM rm_alerts a JOIN rm_devices d ON d.device_id = a.device_id"
        " WHERE d.site = $1 AND a.status <> 'resolved' GROUP BY a.severity",
        site,
    )
    counts = {"info": 0, "warning": 0, "critical": 0} | {r["severity"]: r["n"] for r in by_severity}
    return SiteCounts(site, row["devices"] if row else 0, row["active"] if row else 0, counts)


async def site_device_ids(conn: Conn, site: str) -> list[str]:
    """Every device at ``site`` (decommissioned ones too), by id."""
    rows = await conn.fetch("SELECT device_id FROM rm_devices WHERE site = $1 ORDER BY device_id", site)
    return [r["device_id"] for r in rows]


async def open_alerts_by_severity(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT severity, count(*) AS n FROM rm_alerts WHERE status <> 'resolved' GROUP BY 1")
    return {"info": 0, "warning": 0, "critical": 0} | {r["severity"]: r["n"] for r in rows}


async def sites(conn: Conn, *, after: str | None, limit: int) -> list[Row]:
    """Sites in use, by name, with their device counts (registry read model)."""
    rows = await conn.fetch(
        "SELECT site, count(*) AS devices, count(*) FILTER (WHERE status = 'active') AS active FROM rm_devices"
        " WHERE $1::text IS NULL OR site > $1 GROUP BY site ORDER BY site LIMIT $2",
        after,
        limit,
    )
    return [dict(r) for r in rows]


async def metrics_in_use(conn: Conn, *, after: str | None, limit: int) -> list[Row]:
    """Metric names in use, by name, with their units and how many devices have them."""
    rows = await conn.fetch(
        "SELECT m->>'name' AS name, array_agg(DISTINCT m->>'unit' ORDER BY m->>'unit') AS units,"
        " count(DISTINCT d.device_id) AS devices"
        " FROM rm_devices d, jsonb_array_elements(d.metrics) AS m"
        " WHERE $1::text IS NULL OR m->>'name' > $1 GROUP BY 1 ORDER BY 1 LIMIT $2",
        after,
        limit,
    )
    return [dict(r) for r in rows]
