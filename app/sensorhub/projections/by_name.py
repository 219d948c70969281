"""Every projection, by name."""

from __future__ import annotations

from sensorhub.projections.alert_history import AlertHistoryProjection
from sensorhub.projections.model import Projection
from sensorhub.projections.registry_read_model import RegistryProjection


def all_projections() -> dict[str, Projection]:
    projections: list[Projection] = [RegistryProjection(), AlertHistoryProjection()]
    return {p.name: p for p in projections}
