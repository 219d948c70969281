"""Domain errors. The message is written for the API consumer: what is wrong and what would be right."""

from __future__ import annotations


class DomainError(Exception):
    """A command the domain refuses."""


class InvalidCommand(DomainError):
    """The command itself is malformed (HTTP 422)."""


class UnknownMetric(InvalidCommand):
    pass


class InvalidThreshold(InvalidCommand):
    pass


class ConflictingState(DomainError):
    """The command is well formed but the aggregate's state forbids it (HTTP 409)."""


class DeviceDecommissioned(ConflictingState):
    pass


class DeviceNameTaken(ConflictingState):
    """Another device already holds this name at this site."""


class AlertNotOpen(ConflictingState):
    pass


class AlertAlreadyResolved(ConflictingState):
    pass


class DeviceNotDecommissioned(ConflictingState):
    """Only a decommissioned device can be reactivated."""


class DeviceGone(DomainError):
    """The device was deleted (forgotten): it answers like one that never existed (HTTP 404)."""
