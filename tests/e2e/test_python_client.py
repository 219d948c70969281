"""The typed Python client against the real service (a child process on a port, real HTTP): its
models are what the OpenAPI document generates, and the runnable example does what it says."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.service import Service
from tests.conftest import drop_database, fresh_database

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    url = asyncio.run(fresh_database("timescaledb"))
    svc = Service(url, log_file=tmp_path_factory.mktemp("service") / "service.log").start()
    try:
        yield svc
    finally:
        svc.stop()
        asyncio.run(drop_database(url, "timescaledb"))


def test_the_client_models_are_what_the_document_generates(service: Service) -> None:
    check = subprocess.run(
        [PYTHON, str(ROOT / "scripts" / "client_models.py"), "--check", f"{service.base_url}/schema/openapi.json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_example_runs_against_the_service(service: Service) -> None:
    env = {**os.environ, "SENSORHUB_URL": service.base_url, "SENSORHUB_API_KEY": service.admin_key}
    run = subprocess.run(
        [PYTHON, str(ROOT / "examples" / "python_client.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[1] == "ingested 90 readings (0 duplicates, 0 rejected)"
    assert lines[2] == "read back 90 readings in pages of 25: first 20.0, last 28.9"
    assert lines[3].startswith("exported 90 rows as CSV: example-")
    assert lines[4] == "decommissioned, then reactivated: status active, version 3"
    assert lines[5] == "deleted: reading it now answers 404"


def test_an_api_error_carries_the_problem(service: Service) -> None:
    sys.path.insert(0, str(ROOT / "clients" / "python"))
    try:
        from sensorhub_client import ApiError, SensorhubClient, models
    finally:
        sys.path.remove(str(ROOT / "clients" / "python"))
    with SensorhubClient(service.base_url, service.admin_key) as api:
        with pytest.raises(ApiError) as refused:
            api.register_device(models.RegisterDeviceBody(name="x", site="s", kind="k", metrics=[]))
        assert refused.value.status == 422
        with pytest.raises(ApiError) as missing:
            api.get_device("nobody")
        assert missing.value.status == 404
        assert "nobody" in missing.value.problem["detail"]
