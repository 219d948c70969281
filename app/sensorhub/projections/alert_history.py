"""The ``alert_history`` projection: one row per alert transition, a time-series table.

``rm_alert_history`` is a TimescaleDB hypertable where the extension is present and a
natively month-partitioned table otherwise (partitions are created as rows need them).
Acknowledge/resolve events only name the alert, so the projection keeps the few facts
it needs about each alert (device, metric, severity) in ``rm_alert_subjects``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.db import Conn
from sensorhub.projections.model import Effects, insert, payload_time, table, upsert

SUBJECT_COLUMNS = (("alert_id", "text"), ("device_id", "text"), ("metric", "text"), ("severity", "text"))
HISTORY_COLUMNS = (
    ("time", "timestamptz"),
    ("device_id", "text"),
    ("alert_id", "text"),
    ("metric", "text"),
    ("severity", "text"),
    ("transition", "text"),
    ("value", "float8"),
    ("actor", "text"),
    ("position", "int8"),
)
TRANSITIONS = {
    "AlertRaised": "raised",
    "AlertAcknowledged": "acknowledged",
    "AlertResolved": "resolved",
    "AlertAutoResolved": "auto_resolved",
}


class AlertHistoryProjection:
    name = "alert_history"

    async def apply(
        self, conn: Conn, generation: int, events: Sequence[RecordedEvent], effects: Effects | None
    ) -> None:
        alert_events = [e for e in events if e.type in TRANSITIONS]
        if not alert_events:
            return
        subjects_table = table("rm_alert_subjects", generation)
        wanted = {e.data["alert_id"] for e in alert_events if e.type != "AlertRaised"}
        subjects: dict[str, dict[str, Any]] = {}
        if wanted:
            rows = await conn.fetch(f"SELECT * FROM {subjects_table} WHERE alert_id = ANY($1::text[])", list(wanted))
            subjects = {r["alert_id"]: dict(r) for r in rows}
        new_subjects: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for event in alert_events:
            data = event.data
            if event.type == "AlertRaised":
                subject = {k: data[k] for k in ("alert_id", "device_id", "metric", "severity")}
                subjects[data["alert_id"]] = subject
                new_subjects.append(subject)
            subject = subjects.get(data["alert_id"])
            if subject is None:
                continue
            time, value, actor = _transition_facts(event.type, data)
            history.append(
                {
                    **subject,
                    "time": time,
                    "transition": TRANSITIONS[event.type],
                    "value": value,
                    "actor": actor,
                    "position": event.position,
                }
            )
        await upsert(conn, subjects_table, "alert_id", SUBJECT_COLUMNS, new_subjects)
        await _ensure_partitions(conn, generation, {row["time"] for row in history})
        await insert(conn, table("rm_alert_history", generation), HISTORY_COLUMNS, history, "DO NOTHING")


def _transition_facts(event_type: str, data: dict[str, Any]) -> tuple[datetime, float | None, str | None]:
    match event_type:
        case "AlertRaised":
            return payload_time(data["raised_at"]), float(data["trigger_value"]), None
        case "AlertAcknowledged":
            return payload_time(data["acknowledged_at"]), None, data.get("by")
        case "AlertResolved":
            return payload_time(data["resolved_at"]), None, data.get("by")
        case _:
            return payload_time(data["resolved_at"]), float(data["value"]), None


async def _ensure_partitions(conn: Conn, generation: int, times: set[datetime]) -> None:
    """Plain PostgreSQL needs a month partition before a row can land in it (a no-op on TimescaleDB)."""
    months = {t.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) for t in times}
    for month in sorted(months):
        await conn.execute("SELECT rm_alert_history_partition($1, $2)", generation, month)
