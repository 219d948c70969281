"""What an operator asks of a device. ``expected_version`` carries an ``If-Match`` precondition."""

from __future__ import annotations

from dataclasses import dataclass

from sensorhub.domain.values import Metric


@dataclass(frozen=True)
class RegisterDevice:
    device_id: str
    name: str
    site: str
    kind: str
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class UpdateDevice:
    """Rename and/or move to another site; a field left ``None`` is unchanged."""

    device_id: str
    name: str | None = None
    site: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class SetThreshold:
    device_id: str
    metric: str
    min: float | None
    max: float | None
    severity: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ClearThreshold:
    device_id: str
    metric: str
    expected_version: int | None = None


@dataclass(frozen=True)
class DecommissionDevice:
    device_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ReactivateDevice:
    device_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteDevice:
    device_id: str
    expected_version: int | None = None
