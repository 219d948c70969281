import asyncio

import pytest
from sensorhub import migrations
from sensorhub.db import connect


async def test_migrations_are_idempotent(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        assert await migrations.current_version(conn) == migrations.head()
        assert await migrations.apply(conn) == []
        assert await migrations.current_version(conn) == migrations.head()
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_apply_each_migration_once(engine_database_url: str) -> None:
    conn = await connect(engine_database_url)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await conn.close()
    conns = [await connect(engine_database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrations.apply(c) for c in conns))
        applied = [m.version for result in results for m in result]
        assert sorted(applied) == [m.version for m in migrations.available()]
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in migrations.available()]
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_applied_migration_is_refused(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
            await migrations.apply(conn)
    finally:
        await conn.close()
