"""Typed, validated stack settings read from ``Pulumi.<stack>.yaml``.

Every value is checked before a single resource is declared. Each component reads its own section beside
its settings dataclass (``NetworkSettings.read`` in ``components/network.py``); this module composes them
and adds what belongs to the whole stack (tags, protection, secrets, the prod hardening rules).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal, cast

import pulumi

from infra.components.cache import CacheSettings
from infra.components.cluster import ClusterSettings
from infra.components.database import DatabaseSettings
from infra.components.network import NetworkSettings
from infra.components.observability import ObservabilitySettings
from infra.components.service import ServiceSettings
from infra.components.storage import StorageSettings
from infra.stack_config import PROJECT, Section, SettingsError, describe

__all__ = ["PROJECT", "SettingsError", "StackSettings", "load"]

Environment = Literal["dev", "staging", "prod"]


@dataclass(frozen=True)
class Tags:
    owner: str
    cost_centre: str

    @classmethod
    def read(cls, section: Section) -> Tags:
        tags = cls(owner=section.string("owner"), cost_centre=section.string("costCentre"))
        section.done()
        return tags


@dataclass(frozen=True)
class ProtectionSettings:
    """Deletion protection, Pulumi ``protect``, final snapshots and ``retain_on_delete``."""

    enabled: bool

    @classmethod
    def read(cls, section: Section) -> ProtectionSettings:
        protection = cls(enabled=section.boolean("enabled"))
        section.done()
        return protection

    def prod_problems(self) -> list[str]:
        return [] if self.enabled else [f"{PROJECT}:protection.enabled must be true in prod"]


@dataclass(frozen=True)
class Secrets:
    """Values set with ``pulumi config set --secret``; never in clear in a stack file."""

    redis_auth_token: pulumi.Output[str] | None
    bootstrap_admin_key: pulumi.Output[str] | None
    timescale_dsn: pulumi.Output[str] | None


@dataclass(frozen=True)
class StackSettings:
    stack: str
    environment: Environment
    region: str
    tags: Tags
    network: NetworkSettings
    cluster: ClusterSettings
    database: DatabaseSettings
    cache: CacheSettings
    storage: StorageSettings
    service: ServiceSettings
    observability: ObservabilitySettings
    protection: ProtectionSettings
    secrets: Secrets = field(compare=False)

    @property
    def prefix(self) -> str:
        """Physical-name prefix, e.g. ``sensorhub-dev``."""
        return f"{PROJECT}-{self.stack}"


def _section(stack: str, config: pulumi.Config, key: str) -> Section:
    try:
        raw = config.get_object(key)
    except Exception as exc:  # pulumi raises a generic error for malformed JSON
        raise SettingsError(f"Pulumi.{stack}.yaml: {PROJECT}:{key} is not valid structured config ({exc})") from exc
    if raw is None:
        raise SettingsError(f"Pulumi.{stack}.yaml: {PROJECT}:{key} is missing (see docs/deploy.md)")
    return Section(stack, f"{PROJECT}:{key}", raw)


def load(config: pulumi.Config, aws_config: pulumi.Config, stack: str,
         today: datetime.date | None = None) -> StackSettings:
    """Read and validate every setting of ``stack``; raise :class:`SettingsError` on the first problem."""
    region = aws_config.get("region")
    if not region:
        raise SettingsError(f"Pulumi.{stack}.yaml: aws:region is missing (for example eu-west-1)")
    env_value = config.get("environment")
    if env_value not in ("dev", "staging", "prod"):
        raise SettingsError(
            f"Pulumi.{stack}.yaml: {PROJECT}:environment must be 'dev', 'staging' or 'prod', "
            f"got {describe(env_value)}"
        )
    database = DatabaseSettings.read(_section(stack, config, "database"))
    secrets = Secrets(
        redis_auth_token=config.get_secret("redisAuthToken"),
        bootstrap_admin_key=config.get_secret("bootstrapAdminKey"),
        timescale_dsn=config.get_secret("timescaleDsn"),
    )
    if database.timeseries_backend == "timescale" and secrets.timescale_dsn is None:
        raise SettingsError(
            f"Pulumi.{stack}.yaml: {PROJECT}:timescaleDsn is missing; set it with "
            f"`pulumi config set --secret timescaleDsn 'postgresql://...' --stack {stack}`"
        )
    settings = StackSettings(
        stack=stack,
        environment=cast(Environment, env_value),
        region=region,
        tags=Tags.read(_section(stack, config, "tags")),
        network=NetworkSettings.read(_section(stack, config, "network")),
        cluster=ClusterSettings.read(_section(stack, config, "cluster"), today or datetime.date.today()),
        database=database,
        cache=CacheSettings.read(_section(stack, config, "cache")),
        storage=StorageSettings.read(_section(stack, config, "storage")),
        service=ServiceSettings.read(_section(stack, config, "service")),
        observability=ObservabilitySettings.read(_section(stack, config, "observability")),
        protection=ProtectionSettings.read(_section(stack, config, "protection")),
        secrets=secrets,
    )
    _check_hardening(settings)
    return settings


def _check_hardening(s: StackSettings) -> None:
    """The prod column of the hardening table (docs/deploy.md), enforced before anything is declared."""
    if s.environment != "prod":
        return
    problems = [
        *s.network.prod_problems(), *s.cluster.prod_problems(), *s.database.prod_problems(),
        *s.cache.prod_problems(), *s.protection.prod_problems(), *s.observability.prod_problems(),
    ]
    if problems:
        raise SettingsError(f"Pulumi.{s.stack}.yaml breaks the prod hardening rules:\n  - " + "\n  - ".join(problems))
