"""What an operator asks of a device. ``expected_version`` carries an ``If-Match`` precondition."""

from __future__ import annotations

from dataclasses import dataclass

from sensorhub.domain.personal_data import Owner
from sensorhub.domain.values import Metric


@dataclass(frozen=True)
class RegisterDevice:
    device_id: str
    name: str
    site: str
    kind: str
    metrics: tuple[Metric, ...]
    owner: Owner | None = None
    address: str | None = None  # the owner's: needs an owner


@dataclass(frozen=True)
class UpdateDevice:
    """Rename and/or move to another site; a field left ``None`` is unchanged."""

    device_id: str
    name: str | None = None
    site: str | None = None
    expected_version: int | None = None
    owner: Owner | None = None  # replaces the owner
    address: str | None = None  # replaces the address (of the new or the current owner)


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
