"""Typed service settings, read from the environment (prefix ``SENSORHUB_``).

Nothing here runs at import time: call :func:`load_settings` from an entry point.
Every field is documented in the README's configuration table; a test keeps
the two in step.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SENSORHUB_"


class SettingsError(ValueError):
    """The environment holds a value the service cannot start with."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Literal["local", "test", "dev", "staging", "prod"] = Field("local", description="Deployment environment name.")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:55431/sensorhub",
        validation_alias=AliasChoices("SENSORHUB_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL DSN (`postgresql://user:pass@host:port/db`). `DATABASE_URL` is accepted too.",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SENSORHUB_REDIS_URL", "REDIS_URL"),
        description="Redis URL (`redis://` or `rediss://`). Unset: in-process cache and fan-out.",
    )
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses of proxies whose `X-Forwarded-*` headers are trusted (`*`: any).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_format: Literal["json", "console"] = Field("json", description="Log format.")
    bootstrap_admin_key: SecretStr | None = Field(
        None,
        description="If set, an admin API key with exactly this value is ensured at start-up (min. 16 chars).",
    )
    auto_migrate: bool = Field(True, description="Apply migrations at API start-up (off in Kubernetes).")
    db_pool_min: int = Field(1, ge=0, le=100, description="Minimum connections in the pool.")
    db_pool_max: int = Field(10, ge=1, le=500, description="Maximum connections in the pool.")
    db_command_timeout_s: float = Field(
        15.0, gt=0, le=600, description="Timeout for one database statement, in seconds."
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    timeseries_engine: Literal["auto", "timescaledb", "postgres"] = Field(
        "auto",
        description="Time-series engine: `auto` (TimescaleDB when the extension is installed, else native "
        "partitions), or force `timescaledb` / `postgres`. An existing database keeps the engine that created it.",
    )
    ingest_max_rows: int = Field(
        50_000, ge=1, description="Most reading rows one `POST /v1/readings` may carry; more gets 413."
    )
    readings_max_span_days: float = Field(
        31.0, gt=0, description="Longest `to - from` a readings query may ask for; longer gets 422."
    )
    readings_max_points: int = Field(
        10_000,
        ge=1,
        description="Most raw readings one page of a readings query returns (its default and largest `limit`),"
        " and most buckets one query may return (more gets 422).",
    )
    raw_retention_days: int = Field(
        30, ge=1, description="Raw readings older than this many days are dropped (whole days) by maintenance."
    )
    rollup_retention_days: int = Field(
        730, ge=1, description="Hourly rollups older than this many days are deleted by maintenance."
    )
    rollup_batch_hours: int = Field(
        5_000,
        ge=1,
        description="Series-hours the maintenance job recomputes per rollup transaction (ingest marks the hours "
        "it changed, late readings included; every marked hour is folded in, oldest first).",
    )
    compress_after_days: int = Field(
        0,
        ge=0,
        description="Days wholly older than this many days are compressed by maintenance (with the method "
        "`SENSORHUB_COMPRESSION` picks); 0: off. Keep it below `SENSORHUB_RAW_RETENTION_DAYS`.",
    )
    compression: Literal["auto", "native", "packed", "off"] = Field(
        "auto",
        description="How sealed days are compressed: `auto` (TimescaleDB's native columnstore when the server's "
        "`timescaledb.license` is `timescale`, else the packed layout), `native` (the columnstore; any other server "
        "is a start-up error), `packed` (the packed layout on any engine) or `off`. docs/compression.md",
    )
    compression_duty: float = Field(
        0.25,
        description="The share of wall time the compression job may be busy: after each device group's "
        "transaction it pauses (outside the transaction and its locks) so that packing takes at most this share, "
        "leaving the CPU to ingest; in (0, 1], 1: no pause. docs/compression.md",
    )
    alert_archive_after_days: int = Field(
        0,
        ge=0,
        description="Resolved alerts whose resolution is older than this many days are archived by maintenance: "
        "their events leave the hot `events` table for `events_archive` and read from there "
        "(docs/eventstore.md, \"Archiving streams\"); 0: off.",
    )
    partitions_ahead_days: int = Field(
        7, ge=1, le=366, description="Daily partitions created ahead of time by maintenance (plain PostgreSQL)."
    )
    maintenance_interval_s: float = Field(
        60.0, gt=0, description="Pause between runs of the `sensorhub maintenance` worker."
    )
    archive_url: str | None = Field(
        None,
        description="Archive raw days before retention drops them: `file:///dir` or `s3://bucket/prefix` "
        "(Parquet per day and device group, docs/archive.md). Unset: no archive.",
    )
    archive_s3_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, moto); unset: AWS S3."
    )
    archive_device_groups: int = Field(
        16, ge=1, le=4096, description="Archive files per day: devices are split into this many groups by hash."
    )
    read_wait_timeout_s: float = Field(
        5.0, ge=0, le=60, description="How long a read waits for `X-Min-Position` before answering stale."
    )
    sse_max_duration_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="An alert stream (SSE) connection is closed after this many seconds; clients reconnect.",
    )
    projector_heartbeat_timeout_s: float = Field(
        30.0, gt=0, description="Readiness fails when no projector heartbeat is newer than this."
    )
    require_projector: bool = Field(True, description="Whether `/health/ready` requires a fresh projector heartbeat.")
    projector_port: int = Field(
        8001, ge=0, le=65535, description="Port of the projector's `/metrics` and `/health/live`; 0: not served."
    )
    projection_batch_size: int = Field(
        500, ge=1, le=100_000, description="Events a projection applies per transaction (rebuilds use 4x)."
    )
    projector_poll_interval_s: float = Field(
        1.0, gt=0, le=60, description="Projector polling fallback when no NOTIFY arrives, in seconds."
    )
    read_cache_ttl_s: int = Field(
        60, ge=1, description="Lifetime of a cached read-model response (entries are keyed by projection position)."
    )
    snapshot_every: dict[str, int] = Field(
        default_factory=lambda: {"Device": 50, "Alert": 0},
        description='Snapshot an aggregate every N events, per aggregate type, as JSON (e.g. `{"Device": 50}`); '
        "0 or absent: never.",
    )
    key_file: str = Field(
        ".local/personal-data.kek",
        description="Key-encryption key of the personal-data keys when `SENSORHUB_KMS_KEY_ID` is unset: a file "
        "made on first use (32 random bytes, mode 0600; keep it with the database backups' secrets).",
    )
    kms_key_id: str | None = Field(
        None,
        description="KMS key (id, ARN or alias) that wraps the personal-data keys (docs/personal-data.md); "
        "unset: `SENSORHUB_KEY_FILE`.",
    )
    key_cache_ttl_s: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="How long an unwrapped personal-data key is kept in process (saves a KMS call per read); "
        "a forget takes effect at once regardless.",
    )

    cors_origins: str = Field(
        "",
        description="Comma-separated origins (`https://app.example.com`) whose browser pages may call the API "
        "(CORS). Empty: none.",
    )
    rate_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Requests per API key and window, per scope, as JSON (e.g. "
        '`{"read": 1200, "write": 300, "ingest": 600000, "admin": 60}`; ingest counts rows); over it: 429. '
        "A scope not listed is not limited. Shared across replicas through Redis when configured.",
    )
    rate_limit_window_s: int = Field(60, ge=1, le=86400, description="The window `SENSORHUB_RATE_LIMITS` counts in.")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"expected origins such as https://app.example.com, comma-separated; got {origin!r}")
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _parse_rate_limits(cls, value: object) -> object:
        value = _json_object(value, '{"read": 1200, "ingest": 600000}')
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"read", "write", "ingest", "admin"})
            if unknown:
                raise ValueError(f"unknown scope {', '.join(unknown)}; scopes are read, write, ingest, admin")
        return value

    @field_validator("snapshot_every", mode="before")
    @classmethod
    def _parse_snapshot_every(cls, value: object) -> object:
        return _json_object(value, '{"Device": 50, "Alert": 0}')

    @field_validator("compression")
    @classmethod
    def _check_compression(cls, value: str, info: ValidationInfo) -> str:
        if value in ("native", "packed") and info.data.get("compress_after_days") == 0:
            raise ValueError(
                f"`{value}` asks for compression but SENSORHUB_COMPRESS_AFTER_DAYS is 0 (off): set the days "
                "(e.g. 7), or use `auto` or `off`"
            )
        return value

    @field_validator("compression_duty")
    @classmethod
    def _check_compression_duty(cls, value: float) -> float:
        if not 0 < value <= 1:  # also rejects NaN
            raise ValueError(
                "the share of wall time compression may be busy must be in (0, 1]: e.g. 0.25 (a quarter: "
                "it pauses three times as long as each group took) or 1 (no pause)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a PostgreSQL URL such as postgresql://user:pass@host:5432/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a Redis URL such as redis://host:6379/0")
        return value

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _check_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("expected at least 16 characters")
        return value


def _json_object(value: object, example: str) -> object:
    """An environment value holding JSON, parsed (empty: ``{}``); anything else as given."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else {}
    except ValueError:
        raise ValueError(f"expected JSON such as {example}") from None


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


def _describe(error: Mapping[str, object]) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if isinstance(loc, tuple) and loc else "?"
    name = field if field.isupper() else env_name(field)
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    given = error.get("input")
    shown = "" if given is None or "key" in name.lower() else f" (got {given!r})"
    return f"{name}: {message}{shown}"


FILE_SUFFIX = "_FILE"
_DSN_NAMES = ("SENSORHUB_DATABASE_URL", "DATABASE_URL", "SENSORHUB_DATABASE_URL_FILE")
# The default database URL is the `make run` cluster: a deployed environment must name its own.
_DEPLOYED = ("dev", "staging", "prod")


def _read_secret_files(source: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``SENSORHUB_<NAME>_FILE=/path``: the value of ``SENSORHUB_<NAME>`` is that file's text (one trailing
    newline dropped), as mounted Docker or Kubernetes secrets provide it."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for key, path in source.items():
        if not (key.startswith(ENV_PREFIX) and key.endswith(FILE_SUFFIX)):
            continue
        target = key.removesuffix(FILE_SUFFIX)
        if target.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields:
            continue  # not a setting's file (a field may itself end in _FILE)
        if target in source:
            problems.append(f"{key}: {target} is set too; set one of them")
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                values[target] = handle.read().removesuffix("\n")
        except OSError as exc:
            problems.append(f"{key}: cannot read the secret file {path!r}: {exc.strerror or exc}")
    return values, problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raise :class:`SettingsError` naming each bad variable."""
    source = os.environ if environ is None else environ
    relevant = {k: v for k, v in source.items() if k.startswith(ENV_PREFIX) or k in ("DATABASE_URL", "REDIS_URL")}
    from_files, problems = _read_secret_files(relevant)
    if relevant.get("SENSORHUB_ENV") in _DEPLOYED and not any(relevant.get(name) for name in _DSN_NAMES):
        problems.append(
            f"SENSORHUB_DATABASE_URL: not set (required when SENSORHUB_ENV={relevant['SENSORHUB_ENV']}; "
            "DATABASE_URL or SENSORHUB_DATABASE_URL_FILE work too)"
        )
    if problems:
        raise SettingsError(problems)
    relevant = {k: v for k, v in relevant.items() if k.removesuffix(FILE_SUFFIX) not in from_files} | from_files
    try:
        if environ is None and not from_files:
            return Settings()  # pyright: ignore[reportCallIssue]
        return Settings.model_validate(_lowercase(relevant))
    except ValidationError as exc:
        raise SettingsError([_describe(e) for e in exc.errors()]) from None


def _lowercase(values: Mapping[str, str]) -> dict[str, str]:
    # model_validate bypasses the environment source: map variable names to fields.
    out: dict[str, str] = {}
    for key, value in values.items():
        if key in ("DATABASE_URL", "REDIS_URL"):
            out.setdefault(key.lower(), value)
        else:
            out[key.removeprefix(ENV_PREFIX).lower()] = value
    return out
