"""Versioned SQL migrations for tables and data, and SQL functions kept current from one file each,
applied under an advisory lock (replicas starting at once wait, then find nothing left to do).

* ``NNNN_name.sql``: applied once, in order, each in its own transaction; its checksum is
  recorded, and a changed file that was already applied is an error (write a new migration).
  0002, 0003, 0005, 0006 and 0007 first landed with function definitions (or benchmark notes)
  since moved out; databases that applied those texts keep their checksums, accepted from
  ``SUPERSEDED`` and never rewritten (so the previous release still starts on them).
* ``functions/<name>.sql``: the current ``CREATE OR REPLACE FUNCTION <name>``, (re)applied before
  the pending migrations whenever its checksum differs from the one recorded in
  ``schema_functions``, all in one transaction. Bodies are not checked at that point (migrations
  may call the functions, and a function may use tables a pending migration creates), so a
  function's signature may use built-in types only. Changing a signature or dropping a function
  is DDL: a migration.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sensorhub.db import Conn

LOCK_KEY = 0x5E5E_0001  # pg_advisory_lock key for migrations
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FUNCTION_FILE = re.compile(r"^([a-z0-9_]+)\.sql$")

# Checksums of migration texts as they landed, before their functions moved to functions/
# (tests/integration/migrations_as_landed/ keeps those texts).
SUPERSEDED: dict[int, frozenset[str]] = {
    2: frozenset({"6d4b3a7504b04d9a30ef8493effad318fe407f2576036275c93a6f2e029b7127"}),
    3: frozenset({"55b60729d148a311a7873f671d59aeee8c3c662c0e29bfc72a0dcbff88a2ce1e"}),
    5: frozenset({"39ab4afb51a5072587be2d60925ebd70a424f55024fab01e04543201fd2f6183"}),
    6: frozenset({"78ab3fce38ed0ab40205aee65d4147268f3053825b7d2ce6ab65e23b01a4a164"}),
    7: frozenset({"2d2b7da7a167efaebfec0e8549ee1cf3957aeeb56e4ff997400bb758d5520800"}),
}


class MigrationError(RuntimeError):
    pass


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _sha256(self.sql)


@dataclass(frozen=True)
class Function:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _sha256(self.sql)


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("sensorhub.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def functions() -> list[Function]:
    found: list[Function] = []
    for entry in resources.files("sensorhub.migrations").joinpath("functions").iterdir():
        match = _FUNCTION_FILE.match(entry.name)
        if not match:
            continue
        sql = entry.read_text(encoding="utf-8")
        if not re.search(rf"^CREATE OR REPLACE FUNCTION {match[1]}\(", sql, re.M):
            raise MigrationError(
                f"functions/{entry.name} must define its namesake: CREATE OR REPLACE FUNCTION {match[1]}(...)"
            )
        found.append(Function(match[1], sql))
    found.sort(key=lambda f: f.name)
    return found


def head() -> int:
    migrations = available()
    return migrations[-1].version if migrations else 0


_CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS schema_functions (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


async def current_version(conn: Conn) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)


async def apply(conn: Conn, log: Any = None) -> list[Migration]:
    """Bring changed functions up to date, then apply pending migrations; return the migrations
    this call applied."""
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLES)
        pending = await _pending(conn)
        await _apply_functions(conn, log)
        for migration in pending:
            async with conn.transaction():
                if _has_statements(migration.sql):  # a migration whose content moved keeps its version
                    await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration)
            if log is not None:
                log.info("migration applied", version=migration.version, name=migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return applied_now


def _has_statements(sql: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("--") for line in sql.splitlines())


async def _pending(conn: Conn) -> list[Migration]:
    """The migrations not applied yet; an applied one whose text changed is an error."""
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    done = {r["version"]: r["checksum"] for r in rows}
    pending: list[Migration] = []
    for migration in available():
        recorded = done.get(migration.version)
        if recorded is None:
            pending.append(migration)
        elif recorded != migration.checksum and recorded not in SUPERSEDED.get(migration.version, ()):
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    return pending


async def _apply_functions(conn: Conn, log: Any) -> None:
    rows = await conn.fetch("SELECT name, checksum FROM schema_functions")
    recorded = {r["name"]: r["checksum"] for r in rows}
    changed = [f for f in functions() if recorded.get(f.name) != f.checksum]
    if not changed:
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL check_function_bodies = off")
        for function in changed:
            await conn.execute(function.sql)
        await conn.execute(
            "INSERT INTO schema_functions (name, checksum) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
            [f.name for f in changed],
            [f.checksum for f in changed],
        )
    if log is not None:
        log.info("functions applied", names=[f.name for f in changed])
