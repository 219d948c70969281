"""The one command-line entry point: ``sensorhub <command>``."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg
import click
import httpx

from sensorhub import apikeys, migrations
from sensorhub.db import connect
from sensorhub.observability import configure_logging, get_logger
from sensorhub.settings import Settings, SettingsError, load_settings
from sensorhub.timeseries.engines import EngineError
from sensorhub.timeseries.engines import prepare as prepare_timeseries

T = TypeVar("T")
DB_WAIT_S = 60.0


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"sensorhub: {exc}", err=True)
        sys.exit(2)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn the usual operational failures into one clear line."""

    async def main() -> T:
        return await coro_fn()

    try:
        return asyncio.run(main())
    except asyncpg.UndefinedTableError as exc:
        click.echo(f"sensorhub: the database is not migrated ({exc}); run `sensorhub migrate`", err=True)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidCatalogNameError) as exc:
        click.echo(f"sensorhub: cannot reach the database: {exc}", err=True)
    except migrations.MigrationError as exc:
        click.echo(f"sensorhub: {exc}", err=True)
    except EngineError as exc:  # the engine or compression method asked for cannot run on this database
        click.echo(f"sensorhub: {exc}", err=True)
        sys.exit(2)
    sys.exit(1)


def wait_for_database(settings: Settings) -> None:
    """Retry until the database accepts a connection (it may still be starting, as in a fresh compose
    stack or a pod scheduled before its database), within ``--db-wait`` seconds; then exit with a message.
    Refusals that waiting cannot fix (bad password, no such database) fail at once, through :func:`run`."""
    bound = float(click.get_current_context().find_root().params.get("db_wait_s", DB_WAIT_S))
    where = urlsplit(settings.database_url)
    target = f"{where.hostname or 'localhost'}:{where.port or 5432}{where.path or ''}"
    log = get_logger("sensorhub.startup")

    async def attempt() -> None:
        deadline = time.monotonic() + bound
        delay, attempts = 0.5, 0
        while True:
            attempts += 1
            try:
                timeout = max(1, min(5, int(deadline - time.monotonic())))
                conn = await asyncpg.connect(settings.database_url, timeout=timeout)
            except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
                if time.monotonic() + delay >= deadline:
                    click.echo(
                        f"sensorhub: the database at {target} did not accept a connection within {bound:g} s "
                        f"({attempts} attempts; last error: {exc or type(exc).__name__}). Is it running and is "
                        "SENSORHUB_DATABASE_URL right?",
                        err=True,
                    )
                    sys.exit(1)
                log.warning("database not reachable yet; retrying", target=target, attempt=attempts,
                            error=str(exc) or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                await conn.close()
                return

    run(attempt)


@click.group()
@click.option("--db-wait", "db_wait_s", type=click.FloatRange(min=0), default=DB_WAIT_S, show_default=True,
              help="Seconds a command waits for the database to accept connections before it exits.")
def main(db_wait_s: float) -> None:
    """sensorhub: IoT telemetry service and workers."""


@main.command()
@click.option("--host", default=None, help="Override SENSORHUB_HOST.")
@click.option("--port", type=int, default=None, help="Override SENSORHUB_PORT.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str | None, port: int | None, reload: bool) -> None:
    """Serve the HTTP API."""
    import uvicorn

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    wait_for_database(settings)
    uvicorn.run(
        "sensorhub.bootstrap:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


@main.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run from several replicas at once)."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    wait_for_database(settings)
    log = get_logger("sensorhub.migrate")

    async def go() -> None:
        conn = await connect(settings.database_url)
        try:
            applied = await migrations.apply(conn, log)
            engine = await prepare_timeseries(conn, settings.timeseries_engine)
            log.info("time-series engine", engine=engine.name, detail=engine.describe())
        finally:
            await conn.close()
        click.echo(f"migrations at head ({migrations.head()}); applied now: {len(applied)}")

    run(go)


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(apikeys.SCOPES),
    help="Repeat for several scopes.",
)
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; the secret is printed once."""
    settings = settings_or_exit()

    async def go() -> tuple[apikeys.ApiKey, str]:
        conn = await connect(settings.database_url)
        try:
            return await apikeys.create(conn, name, list(scopes))
        finally:
            await conn.close()

    key, secret = run(go)
    click.echo(f"key_id: {key.key_id}\nscopes: {','.join(key.scopes)}\nsecret: {secret}")
    click.echo("(the secret is not stored anywhere; keep it now)")


@keys.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    settings = settings_or_exit()

    async def go() -> list[apikeys.ApiKey]:
        conn = await connect(settings.database_url)
        try:
            return await apikeys.list_keys(conn)
        finally:
            await conn.close()

    for key in run(go):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"{key.key_id}\t{key.name}\t{','.join(key.scopes)}\t{state}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    settings = settings_or_exit()

    async def go() -> bool:
        conn = await connect(settings.database_url)
        try:
            return await apikeys.revoke(conn, key_id)
        finally:
            await conn.close()

    if not run(go):
        click.echo(f"sensorhub: no active key with id {key_id!r}", err=True)
        sys.exit(1)
    click.echo(f"revoked {key_id}")


@main.command()
@click.option("--port", type=int, default=None, help="Port for /metrics and /health/live (SENSORHUB_PROJECTOR_PORT).")
@click.option("--only", "names", multiple=True, help="Run only this projection (repeatable).")
def projector(port: int | None, names: tuple[str, ...]) -> None:
    """Run the projections (any number of replicas: one leader per projection)."""
    from sensorhub.cli import projection_commands as commands

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    wait_for_database(settings)
    run(lambda: commands.projector(settings, port=settings.projector_port if port is None else port, names=names))


@main.command()
@click.argument("projection")
@click.option("--wait/--no-wait", default=True, help="Wait until the rebuilt copy is swapped in.")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, help="Give up waiting after this many seconds.")
def rebuild(projection: str, wait: bool, timeout_s: float) -> None:
    """Rebuild a projection without downtime (shadow copy from position zero, then an atomic swap)."""
    from sensorhub.cli import projection_commands as commands

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    try:
        click.echo(run(lambda: commands.rebuild(settings, projection, wait=wait, timeout_s=timeout_s)))
    except (ValueError, TimeoutError) as exc:
        click.echo(f"sensorhub: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="One run, then exit (default: every SENSORHUB_MAINTENANCE_INTERVAL_S).")
def maintenance(once: bool) -> None:
    """Time-series upkeep: partitions ahead, hourly rollups, archive, retention (one replica at a time)."""
    from sensorhub.timeseries.maintenance import MaintenanceReport
    from sensorhub.timeseries.maintenance import serve as maintain

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    wait_for_database(settings)

    async def go() -> MaintenanceReport:
        # The worker's /health/live and /metrics on SENSORHUB_PROJECTOR_PORT, which the Kubernetes
        # probes and the compose health check call (as on the projector).
        server = None
        if not once and settings.projector_port:
            from sensorhub.projections.projector import serve_operations

            server = await serve_operations("0.0.0.0", settings.projector_port)  # noqa: S104 - probed from outside
        try:
            return await maintain(settings, loop=not once)
        finally:
            if server is not None:
                server.close()

    report = run(go)
    click.echo("maintenance: " + ("done" if report.ran else "skipped (another replica holds the lock)"))


@main.group()
def events() -> None:
    """The event store: archive resolved alerts, restore archived streams (docs/eventstore.md)."""


@events.command("archive")
@click.option("--older-than-days", type=click.FloatRange(min=0), default=None,
              help="Resolved this many days ago or earlier (default: SENSORHUB_ALERT_ARCHIVE_AFTER_DAYS).")
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=500, show_default=True,
              help="Alert streams archived per transaction.")
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Stop after this many batches.")
def events_archive(older_than_days: float | None, batch_size: int, max_batches: int | None) -> None:
    """Move the events of resolved alerts to the archive table (resumable: one transaction per batch)."""
    from sensorhub.cli import event_commands as commands

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    days = settings.alert_archive_after_days if older_than_days is None else older_than_days
    if days <= 0 and older_than_days is None:
        click.echo("sensorhub: SENSORHUB_ALERT_ARCHIVE_AFTER_DAYS is 0 (off); pass --older-than-days", err=True)
        sys.exit(2)
    progress = run(lambda: commands.archive_alerts(
        settings, older_than_days=days, batch_size=batch_size, max_batches=max_batches, echo=click.echo
    ))
    click.echo(f"archived {progress.streams} alerts ({progress.events} events) in {progress.batches} batches")


@events.command("restore")
@click.option("--stream", "streams", multiple=True, required=True, help="An archived stream id (repeatable).")
def events_restore(streams: tuple[str, ...]) -> None:
    """Move archived streams' events back to the hot table (same positions); appends are allowed again."""
    from sensorhub.cli import event_commands as commands

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    moved = run(lambda: commands.restore_streams(settings, streams))
    if moved == 0:
        click.echo(f"sensorhub: none of {', '.join(streams)} is archived", err=True)
        sys.exit(1)
    click.echo(f"restored {moved} events")


@main.group()
def archive() -> None:
    """The Parquet archive of raw days past retention (docs/archive.md)."""


@archive.command("restore")
@click.option("--day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The UTC day, YYYY-MM-DD.")
def archive_restore(day: datetime) -> None:
    """Bring an archived day back into readings (idempotent: rows already there are kept once)."""
    from sensorhub.timeseries.archive_restore import RestoreError, restore_from_settings

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    try:
        files = run(lambda: restore_from_settings(settings, day.date(), click.echo))
    except (RestoreError, ValueError) as exc:
        click.echo(f"sensorhub: {exc}", err=True)
        sys.exit(1)
    click.echo(f"restored {day:%Y-%m-%d}: {sum(f.rows for f in files)} rows read, "
               f"{sum(f.inserted for f in files)} inserted, {len(files)} files")


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Base URL of the API.")
@click.option("--api-key", envvar="SENSORHUB_BOOTSTRAP_ADMIN_KEY", required=True, help="Key with write+ingest scopes.")
@click.option("--devices", type=int, default=10, show_default=True, help="Simulated devices.")
@click.option("--metrics", default="temperature,humidity", show_default=True, help="Comma-separated metrics.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between batches.")
@click.option("--ticks", type=int, default=None, help="Stop after this many batches (default: run until Ctrl-C).")
@click.option("--anomaly-rate", type=float, default=0.01, show_default=True, help="Chance a series starts an anomaly.")
@click.option("--seed", type=int, default=None, help="Random seed for a repeatable run.")
def simulate(
    *,
    url: str,
    api_key: str,
    devices: int,
    metrics: str,
    interval: float,
    ticks: int | None,
    anomaly_rate: float,
    seed: int | None,
) -> None:
    """Register simulated devices and push realistic readings (noise, gaps, late, duplicates, anomalies)."""
    from sensorhub.simulator import METRICS, SimulationPlan
    from sensorhub.simulator import simulate as run_simulation

    chosen = tuple(m.strip() for m in metrics.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METRICS]
    if unknown:
        raise click.BadParameter(
            f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}", param_hint="--metrics"
        )
    plan = SimulationPlan(
        devices=devices, metrics=chosen, interval_s=interval, ticks=ticks, anomaly_rate=anomaly_rate, seed=seed
    )
    try:
        asyncio.run(run_simulation(url, api_key, plan))
    except KeyboardInterrupt:
        click.echo("\nsimulator stopped")
    except (httpx.HTTPError, RuntimeError) as exc:
        click.echo(f"\nsensorhub simulate: {exc}", err=True)
        sys.exit(1)
