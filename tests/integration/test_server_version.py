"""The suite runs on the PostgreSQL major production runs (RDS PostgreSQL 17), with the Apache-2
edition of TimescaleDB: scripts/provision.sh provides both (docs/postgres.md)."""

import asyncpg

from tests.conftest import server_url

PRODUCTION_PG_MAJOR = 17


async def test_every_test_cluster_runs_the_production_major(engine: str) -> None:
    conn = await asyncpg.connect(server_url(engine))
    try:
        version_num = int(await conn.fetchval("SHOW server_version_num"))
    finally:
        await conn.close()
    assert version_num // 10000 == PRODUCTION_PG_MAJOR


async def test_timescaledb_is_the_apache_edition(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        assert await conn.fetchval("SHOW timescaledb.license") == "apache"
    finally:
        await conn.close()
