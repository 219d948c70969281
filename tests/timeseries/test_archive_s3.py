"""Archive to S3-compatible storage: a real moto server on a free local port."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer
from sensorhub.timeseries.archive import S3Sink, sink_for
from sensorhub.timeseries.archive_restore import restore_day
from sensorhub.timeseries.maintenance import run_once

from tests.timeseries.conftest import TimeSeries
from tests.timeseries.test_maintenance import POLICY, _seed_old_days

NOW = datetime(2030, 1, 10, 12, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)


async def test_raw_days_are_archived_to_s3_before_they_are_dropped(
    ts: TimeSeries, s3_endpoint: str, aws_env: None
) -> None:
    bucket = f"archive-{ts.store.info.name}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    sink = sink_for(f"s3://{bucket}/sensorhub/prod", s3_endpoint)
    assert isinstance(sink, S3Sink)
    await _seed_old_days(ts)
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, POLICY, archive=sink, now=NOW)
        locations = [r["location"] for r in await conn.fetch("SELECT location FROM readings_archive ORDER BY 1")]
    assert report.archived_rows == 12
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)
    keys = sorted(o["Key"] for o in listed["Contents"])
    parts = [k for k in keys if k.endswith(".parquet")]
    assert [f"s3://{bucket}/{k}" for k in parts] == locations
    assert all(k.startswith("sensorhub/prod/readings/day=2029-12-") for k in keys)
    assert sorted(k for k in keys if k.endswith("/_manifest.json")) == [
        "sensorhub/prod/readings/day=2029-12-06/_manifest.json",
        "sensorhub/prod/readings/day=2029-12-09/_manifest.json",
    ]
    body = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=bucket, Key=parts[0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows > 0


async def test_a_day_archived_to_s3_is_restored_once(ts: TimeSeries, s3_endpoint: str, aws_env: None) -> None:
    bucket = f"restore-{ts.store.info.name}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    sink = sink_for(f"s3://{bucket}/archive", s3_endpoint)
    await _seed_old_days(ts)
    day = datetime(2029, 12, 6, tzinfo=UTC)
    expected = [r for r in await ts.stored() if r[2].date() == day.date()]
    async with ts.pool.acquire() as conn:
        await run_once(conn, ts.store, POLICY, archive=sink, now=NOW)
        assert [r for r in await ts.stored() if r[2].date() == day.date()] == []
        first = await restore_day(conn, ts.store.engine, sink, day.date())
        again = await restore_day(conn, ts.store.engine, sink, day.date())
    assert sum(f.inserted for f in first) == len(expected) == 6
    assert sum(f.inserted for f in again) == 0
    assert [r for r in await ts.stored() if r[2].date() == day.date()] == expected
