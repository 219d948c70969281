"""The real service in a child process, on a fresh database, for tests that talk HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.service import Service
from tests.conftest import drop_database, fresh_database


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service per module (start-up takes about a second)."""
    url = asyncio.run(fresh_database("timescaledb"))
    log_file: Path = tmp_path_factory.mktemp("service") / "service.log"
    # A short stream lifetime keeps each fuzzed call to the never-ending SSE endpoint to about a second,
    # and a short read wait each fuzzed X-Min-Position (most name no event yet: they wait, then answer stale).
    svc = Service(url, log_file=log_file, sse_max_duration_s="1", read_wait_timeout_s="0.2").start()
    try:
        yield svc
    finally:
        svc.stop()
        asyncio.run(drop_database(url, "timescaledb"))
