"""Alert command handlers. Ingest calls :func:`raise_alert` and :func:`auto_resolve_alert`;
operators (HTTP) call :func:`acknowledge_alert` and :func:`resolve_alert`."""

from __future__ import annotations

from sensorhub.application.errors import AlreadyExists, ConcurrencyError
from sensorhub.application.results import CommandResult, result_of
from sensorhub.application.unit_of_work import CommitResult, UnitOfWork
from sensorhub.domain.alert import Alert, AlertState
from sensorhub.domain.alert_commands import AcknowledgeAlert, AutoResolveAlert, RaiseAlert, ResolveAlert

AlertResult = CommandResult[AlertState]


async def raise_alert(cmd: RaiseAlert, uow: UnitOfWork) -> AlertResult:
    """Raise a new alert. Repeating the same raise (same id, device, metric and reading time)
    returns the existing alert and writes nothing, so ingest may retry with a deterministic id."""
    existing = await uow.alerts.find(cmd.alert_id)
    if existing is not None:
        s = existing.state
        if (s.device_id, s.metric, s.raised_at) == (cmd.device_id, cmd.metric, cmd.raised_at):
            return result_of(existing, CommitResult())
        raise AlreadyExists(f"an alert with id {cmd.alert_id!r} already exists for another reading")
    alert = Alert.raise_(cmd)
    uow.alerts.add(alert)
    try:
        commit = await uow.commit()
    except ConcurrencyError:
        raise AlreadyExists(f"an alert with id {cmd.alert_id!r} already exists") from None
    return result_of(alert, commit)


async def auto_resolve_alert(cmd: AutoResolveAlert, uow: UnitOfWork) -> AlertResult:
    """Resolve because a reading is back within bounds (a no-op on a resolved alert)."""
    alert = await uow.alerts.get(cmd.alert_id)
    alert.auto_resolve(cmd)
    return result_of(alert, await uow.commit())


async def acknowledge_alert(cmd: AcknowledgeAlert, uow: UnitOfWork) -> AlertResult:
    alert = await uow.alerts.get(cmd.alert_id, cmd.expected_version)
    alert.acknowledge(cmd)
    return result_of(alert, await uow.commit())


async def resolve_alert(cmd: ResolveAlert, uow: UnitOfWork) -> AlertResult:
    alert = await uow.alerts.get(cmd.alert_id, cmd.expected_version)
    alert.resolve(cmd)
    return result_of(alert, await uow.commit())
