"""The simulator against the real app, and ``sensorhub maintenance`` / ``migrate`` from the command line."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sensorhub.cli import main
from sensorhub.simulator import SimulationPlan, Simulator

from tests.projections.support import project_everything
from tests.support.app import auth, client_for, settings_for


@pytest.fixture
async def client(engine_database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with client_for(settings_for(engine_database_url)) as c:
        c.headers.update(auth())
        yield c


async def test_simulator_registers_devices_and_pushes_readings_that_raise_alerts(
    client: AsyncTestClient[Any], engine_database_url: str
) -> None:
    plan = SimulationPlan(
        devices=3,
        ticks=4,
        interval_s=0,
        backfill_minutes=3,
        anomaly_rate=0.5,
        duplicate_rate=0.3,
        late_rate=0.2,
        seed=7,
    )
    progress = io.StringIO()
    totals = await Simulator(client, plan).run(progress)
    assert totals.accepted > 0
    assert totals.rejected == 0
    assert totals.duplicates > 0
    assert totals.alerts_raised > 0
    assert "accepted" in progress.getvalue()
    latest = (await client.get("/v1/devices/sim-0001/latest")).json()
    assert {i["metric"] for i in latest["items"]} == {"temperature", "humidity"}
    await project_everything(engine_database_url)  # the summary's device counts come from the read models
    summary = (await client.get("/v1/sites/sim-site-1/summary")).json()
    assert summary["devices"] == 2


def test_maintenance_and_migrate_commands(engine_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORHUB_DATABASE_URL", engine_database_url)
    runner = CliRunner()
    migrated = runner.invoke(main, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    done = runner.invoke(main, ["maintenance", "--once"])
    assert done.exit_code == 0, done.output
    assert "maintenance: done" in done.output
