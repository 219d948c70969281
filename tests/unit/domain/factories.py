"""Commands with sensible defaults for domain tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sensorhub.domain.alert_commands import RaiseAlert
from sensorhub.domain.device_commands import RegisterDevice
from sensorhub.domain.values import Bounds, Metric

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def register(device_id: str = "dev-1", metrics: tuple[str, ...] = ("temperature", "humidity")) -> RegisterDevice:
    return RegisterDevice(device_id, "Boiler room", "site-a", "thermo", tuple(Metric(m, "u") for m in metrics))


def raise_cmd(alert_id: str = "al-1") -> RaiseAlert:
    return RaiseAlert(alert_id, "dev-1", "temperature", "warning", 91.5, Bounds(None, 90.0), T0)
