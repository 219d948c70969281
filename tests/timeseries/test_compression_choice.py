"""``SENSORHUB_COMPRESSION`` on the engines this machine runs (plain PostgreSQL, TimescaleDB Apache):
``auto`` and ``packed`` pack, ``off`` leaves every day raw, ``native`` is refused at start-up naming
``timescaledb.license`` (the columnstore needs the Timescale licence, which no server here has)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sensorhub.cli import main
from sensorhub.settings import load_settings
from sensorhub.timeseries import compression
from sensorhub.timeseries.engines import EngineInfo
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once, serve

from tests.timeseries.conftest import NOW, TimeSeries, reading

POLICY = MaintenancePolicy(
    raw_retention_days=30, rollup_retention_days=60, partitions_ahead_days=1, rollup_batch_hours=1000,
    archive_groups=4, compress_after_days=2,
)


@pytest.fixture
def storage() -> str:
    return "raw"


async def _seed(ts: TimeSeries) -> int:
    await ts.register("d1", "temp")
    day = NOW - timedelta(days=4)
    result = await ts.send([reading("d1", "temp", day + timedelta(minutes=10 * k), float(k)) for k in range(30)])
    return result.accepted


async def _packed(ts: TimeSeries) -> int:
    return int(await ts.pool.fetchval("SELECT coalesce(sum(count), 0) FROM readings_packed"))


def _native_refusal(info: EngineInfo) -> str:
    with pytest.raises(compression.CompressionConfigError) as refused:
        compression.method_for(info, "native")
    return str(refused.value)


def test_each_choice_resolves_per_server() -> None:
    licensed = EngineInfo("timescaledb", "2.19.3", "timescale")
    apache = EngineInfo("timescaledb", "2.19.3", "apache")
    plain = EngineInfo("postgres", None, None)
    assert [compression.method_for(licensed, c) for c in ("auto", "native", "packed", "off")] == [
        "columnstore", "columnstore", "packed", "off"]
    for info in (apache, plain):
        assert [compression.method_for(info, c) for c in ("auto", "packed", "off")] == ["packed", "packed", "off"]
    assert "timescaledb.license = 'timescale'" in _native_refusal(apache)
    assert "this server reports timescaledb.license = 'apache'" in _native_refusal(apache)
    assert "postgres engine (no TimescaleDB)" in _native_refusal(plain)


@pytest.mark.parametrize(("choice", "packs"), [("auto", True), ("packed", True), ("off", False)])
async def test_auto_and_packed_pack_and_off_leaves_days_raw(ts: TimeSeries, choice: str, packs: bool) -> None:
    accepted = await _seed(ts)
    before = await ts.stored()
    policy = MaintenancePolicy(**{**POLICY.__dict__, "compression": choice})
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, policy, now=NOW)
    assert report.readings_compressed == (accepted if packs else 0)
    assert await _packed(ts) == (accepted if packs else 0)
    assert await ts.stored() == before


async def test_native_is_refused_here_and_changes_nothing(ts: TimeSeries) -> None:
    """No server on this machine has the Timescale licence: ``native`` fails before any work."""
    accepted = await _seed(ts)
    policy = MaintenancePolicy(**{**POLICY.__dict__, "compression": "native"})
    async with ts.pool.acquire() as conn:
        with pytest.raises(compression.CompressionConfigError, match=r"timescaledb\.license"):
            await run_once(conn, ts.store, policy, now=NOW)
    assert await _packed(ts) == 0
    assert int(await ts.pool.fetchval("SELECT count(*) FROM readings")) == accepted
    # The looping worker stops at once instead of retrying a configuration that cannot change.
    settings = load_settings({
        "SENSORHUB_DATABASE_URL": ts.url, "SENSORHUB_COMPRESSION": "native", "SENSORHUB_COMPRESS_AFTER_DAYS": "2",
        "SENSORHUB_MAINTENANCE_INTERVAL_S": "0.05",
    })
    with pytest.raises(compression.CompressionConfigError):
        await asyncio.wait_for(serve(settings, loop=True), timeout=60)


def test_the_maintenance_command_names_the_licence_setting(engine_database_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORHUB_DATABASE_URL", engine_database_url)
    monkeypatch.setenv("SENSORHUB_COMPRESSION", "native")
    monkeypatch.setenv("SENSORHUB_COMPRESS_AFTER_DAYS", "2")
    refused = CliRunner().invoke(main, ["maintenance", "--once"])
    assert refused.exit_code == 2, refused.output
    assert "SENSORHUB_COMPRESSION=native" in refused.output and "timescaledb.license" in refused.output
    monkeypatch.setenv("SENSORHUB_COMPRESSION", "packed")
    done = CliRunner().invoke(main, ["maintenance", "--once"])
    assert done.exit_code == 0, done.output
