from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.support.app import client_for, settings_for


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The real app on a fresh database and the test Redis; authenticate with `auth()`."""
    async with client_for(settings_for(database_url, redis_url)) as c:
        yield c
