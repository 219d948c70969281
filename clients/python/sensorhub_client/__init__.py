"""A small typed Python client of the sensorhub API (see docs/api.md, "A typed Python client")."""

from sensorhub_client import models
from sensorhub_client.client import ApiError, SensorhubClient, Written

__all__ = ["ApiError", "SensorhubClient", "Written", "models"]
