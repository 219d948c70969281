"""Build the real app against a test database and talk to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient
from sensorhub.bootstrap import create_app
from sensorhub.settings import Settings, load_settings

ADMIN_KEY = "test-admin-key-0123456789abcdef"


def settings_for(database_url: str, redis_url: str | None = None, **overrides: str) -> Settings:
    env = {
        "SENSORHUB_ENV": "test",
        "SENSORHUB_DATABASE_URL": database_url,
        "SENSORHUB_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "SENSORHUB_REQUIRE_PROJECTOR": "false",
        "SENSORHUB_LOG_LEVEL": "warning",
    }
    if redis_url:
        env["SENSORHUB_REDIS_URL"] = redis_url
    env.update({f"SENSORHUB_{k.upper()}": v for k, v in overrides.items()})
    return load_settings(env)


def auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        yield client
