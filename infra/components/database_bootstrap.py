"""Runs in the service image as the database bootstrap Job (mounted from a ConfigMap, not imported by infra/).

As the RDS master user: create or update the service's login role with the password Pulumi generated, and
make it the owner of the service's database and its ``public`` schema, so migrations run as that role.
Idempotent: every ``pulumi up`` that changes the image or the password runs it again.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import unquote, urlsplit

import asyncpg


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def bootstrap() -> None:
    app = urlsplit(os.environ["SENSORHUB_DATABASE_URL"])
    if not app.username or not app.password or not app.hostname:
        raise SystemExit("SENSORHUB_DATABASE_URL must carry the service's user, password and host")
    user, password, database = unquote(app.username), unquote(app.password), app.path.lstrip("/")
    conn = await asyncpg.connect(
        host=app.hostname, port=app.port or 5432, database=database, ssl="require",
        user=os.environ["MASTER_USERNAME"], password=os.environ["MASTER_PASSWORD"],
    )
    try:
        exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", user)
        verb = "ALTER" if exists else "CREATE"
        role = quote_ident(user)
        await conn.execute(f"{verb} ROLE {role} WITH LOGIN PASSWORD {quote_literal(password)}")
        # PostgreSQL 16+: the creator must be a member of a role to hand it ownership.
        await conn.execute(f"GRANT {role} TO CURRENT_USER")
        await conn.execute(f"ALTER DATABASE {quote_ident(database)} OWNER TO {role}")
        await conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(bootstrap())
