import asyncio
import hashlib
from pathlib import Path

import asyncpg
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


LANDED = Path(__file__).parent / "migrations_as_landed"  # 0001-0007 as first applied by deployed databases
_FUNCTIONS = """
SELECT p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS definition
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""
_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_functions'
ORDER BY 1, 2
"""


async def _schema(conn: asyncpg.Connection) -> tuple[dict[str, str], list[tuple[object, ...]]]:
    functions = {r["signature"]: r["definition"] for r in await conn.fetch(_FUNCTIONS)}
    return functions, [tuple(r) for r in await conn.fetch(_COLUMNS)]


async def _migrate_as_landed(url: str, up_to: int) -> asyncpg.Connection:
    """What the previous release's runner did on an empty database: the landed texts in order, each
    checksum recorded. Returns a new session (TimescaleDB cannot be re-created in the one that dropped it)."""
    conn = await connect(url)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await conn.close()
    conn = await connect(url)
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for path in sorted(LANDED.glob("*.sql"))[:up_to]:
        sql = path.read_text(encoding="utf-8")
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                int(path.name[:4]),
                path.stem[5:],
                hashlib.sha256(sql.encode()).hexdigest(),
            )
    return conn


async def test_databases_migrated_from_any_landed_version_end_like_a_fresh_one(engine_database_url: str) -> None:
    """A database that applied the landed texts up to any version, then this release's runner, has
    the same functions (``pg_get_functiondef``) and columns as one this runner built from nothing."""
    assert len(list(LANDED.glob("*.sql"))) == 7
    schemas: list[tuple[dict[str, str], list[tuple[object, ...]]]] = []
    for up_to in range(8):
        conn = await _migrate_as_landed(engine_database_url, up_to)
        try:
            assert await migrations.current_version(conn) == up_to
            await migrations.apply(conn)
            assert await migrations.current_version(conn) == migrations.head()
            schemas.append(await _schema(conn))
        finally:
            await conn.close()
    fresh = schemas[0]
    assert {s.split("(")[0] for s in fresh[0]} == {f.name for f in migrations.functions()}
    for up_to, schema in enumerate(schemas[1:], 1):
        assert schema == fresh, f"after the landed 0001-{up_to:04d}"


async def test_a_function_is_reapplied_when_its_file_changes(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        current = await conn.fetchval("SELECT pg_get_functiondef('rm_tables(text)'::regprocedure)")
        await conn.execute(
            "CREATE OR REPLACE FUNCTION rm_tables(p_projection text) RETURNS text[]"
            " LANGUAGE sql AS $$ SELECT NULL::text[] $$"
        )
        assert await migrations.apply(conn) == []  # recorded checksum = the file's: nothing to do
        assert await conn.fetchval("SELECT rm_tables('registry')") is None
        await conn.execute("UPDATE schema_functions SET checksum = 'x' WHERE name = 'rm_tables'")
        assert await migrations.apply(conn) == []
        assert await conn.fetchval("SELECT pg_get_functiondef('rm_tables(text)'::regprocedure)") == current
        assert await conn.fetchval("SELECT checksum FROM schema_functions WHERE name = 'rm_tables'") == next(
            f.checksum for f in migrations.functions() if f.name == "rm_tables"
        )
    finally:
        await conn.close()


def test_every_superseded_checksum_is_a_landed_text() -> None:
    landed = {int(p.name[:4]): hashlib.sha256(p.read_bytes()).hexdigest() for p in LANDED.glob("*.sql")}
    current = {m.version: m.checksum for m in migrations.available()}
    for version, checksums in migrations.SUPERSEDED.items():
        assert checksums == {landed[version]} != {current[version]}
    assert {v for v in landed if landed[v] != current[v]} == set(migrations.SUPERSEDED)
