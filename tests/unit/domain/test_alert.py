from __future__ import annotations

from datetime import timedelta

import pytest
from sensorhub.domain.alert import Alert
from sensorhub.domain.alert_commands import AcknowledgeAlert, AutoResolveAlert, ResolveAlert
from sensorhub.domain.errors import AlertAlreadyResolved, AlertNotOpen, InvalidCommand

from tests.unit.domain.factories import T0, raise_cmd


def test_an_alert_is_acknowledged_then_resolved() -> None:
    alert = Alert.raise_(raise_cmd())
    assert alert.state.status == "open"
    alert.acknowledge(AcknowledgeAlert("al-1", "ops", "looking", T0 + timedelta(minutes=1)))
    assert (alert.state.status, alert.state.acknowledged_by) == ("acknowledged", "ops")
    alert.resolve(ResolveAlert("al-1", "ops", None, T0 + timedelta(minutes=2)))
    assert alert.state.status == "resolved"
    assert alert.state.resolution == "manual"
    assert alert.state.note == "looking"


def test_only_an_open_alert_can_be_acknowledged() -> None:
    alert = Alert.raise_(raise_cmd())
    alert.acknowledge(AcknowledgeAlert("al-1", "ops", None, T0))
    with pytest.raises(AlertNotOpen, match="acknowledged"):
        alert.acknowledge(AcknowledgeAlert("al-1", "ops", None, T0))


def test_a_resolved_alert_cannot_be_resolved_again() -> None:
    alert = Alert.raise_(raise_cmd())
    alert.resolve(ResolveAlert("al-1", None, None, T0))
    with pytest.raises(AlertAlreadyResolved):
        alert.resolve(ResolveAlert("al-1", None, None, T0))
    with pytest.raises(AlertNotOpen):
        alert.acknowledge(AcknowledgeAlert("al-1", "ops", None, T0))


def test_auto_resolve_uses_the_reading_time_and_is_idempotent() -> None:
    alert = Alert.raise_(raise_cmd())
    later = T0 + timedelta(seconds=30)
    alert.auto_resolve(AutoResolveAlert("al-1", 80.0, later))
    alert.auto_resolve(AutoResolveAlert("al-1", 79.0, later + timedelta(seconds=1)))
    assert (alert.state.status, alert.state.resolved_at, alert.state.resolution) == ("resolved", later, "auto")
    assert len(alert.pending) == 2


def test_a_reading_older_than_the_alert_cannot_resolve_it() -> None:
    alert = Alert.raise_(raise_cmd())
    with pytest.raises(InvalidCommand, match="older than the alert"):
        alert.auto_resolve(AutoResolveAlert("al-1", 1.0, T0 - timedelta(seconds=1)))
