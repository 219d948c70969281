"""Every route handler the API serves, in one list (add new controllers here)."""

from __future__ import annotations

from typing import Any

from sensorhub.http import alert_reads, alerts, devices, events, health, keys, projections, readings


def route_handlers() -> list[Any]:
    return [
        health.live,
        health.ready,
        health.MetricsController,
        keys.KeysController,
        devices.DevicesController,
        alerts.AlertsController,
        events.EventsController,
        readings.ReadingsController,
        alert_reads.AlertReadsController,
        projections.ProjectionsController,
    ]
