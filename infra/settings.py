"""Typed, validated stack settings read from ``Pulumi.<stack>.yaml``.

Every value is checked before a single resource is declared. A wrong value fails with
a message that names the stack, the key and what would be right, so the stack file is
the only documentation a platform engineer needs to open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import pulumi

PROJECT = "sensorhub"

Environment = Literal["dev", "staging", "prod"]
NatStrategy = Literal["single", "perAz"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
Arch = Literal["arm64", "x86_64"]
TimeseriesBackend = Literal["rds", "timescale"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    """A stack file value is missing, mistyped or breaks a hardening rule."""


@dataclass(frozen=True)
class Tags:
    owner: str
    cost_centre: str


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str
    az_count: int
    nat_gateways: NatStrategy
    flow_log_retention_days: int


@dataclass(frozen=True)
class NodeGroupSettings:
    name: str
    instance_types: tuple[str, ...]
    capacity_type: CapacityType
    arch: Arch
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gb: int


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str
    public_access_cidrs: tuple[str, ...]
    admin_role_arn: str
    node_groups: tuple[NodeGroupSettings, ...]


@dataclass(frozen=True)
class TimescaleSettings:
    peer_vpc_id: str
    peer_cidr: str
    peer_owner_id: str
    peer_region: str


@dataclass(frozen=True)
class DatabaseSettings:
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    monitoring_interval_seconds: int
    performance_insights_retention_days: int
    timeseries_backend: TimeseriesBackend
    timescale: TimescaleSettings | None


@dataclass(frozen=True)
class CacheSettings:
    node_type: str
    engine_version: str
    replicas: int
    snapshot_retention_days: int


@dataclass(frozen=True)
class StorageSettings:
    archive_ia_after_days: int
    archive_glacier_after_days: int
    archive_expire_after_days: int


@dataclass(frozen=True)
class WorkloadSettings:
    replicas: int
    cpu: str
    memory: str


@dataclass(frozen=True)
class ServiceSettings:
    hostname: str
    certificate_arn: str
    log_level: LogLevel
    api: WorkloadSettings
    api_max_replicas: int
    api_target_cpu_percent: int
    projector: WorkloadSettings
    maintenance: WorkloadSettings
    archive_enabled: bool


@dataclass(frozen=True)
class AlarmThresholds:
    rds_cpu_percent: int
    rds_free_storage_gb: int
    rds_free_memory_mb: int
    rds_connections: int
    redis_cpu_percent: int
    redis_memory_percent: int
    redis_evictions: int
    api_5xx_per_minute: int
    projection_lag_seconds: int


@dataclass(frozen=True)
class ObservabilitySettings:
    log_retention_days: int
    route_alarms: bool
    alarm_email: str | None
    thresholds: AlarmThresholds


@dataclass(frozen=True)
class ProtectionSettings:
    """Deletion protection, Pulumi ``protect``, final snapshots and ``retain_on_delete``."""

    enabled: bool


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


# --------------------------------------------------------------------------- reading


class _Section:
    """One config object (``sensorhub:<key>``) with typed, self-explaining accessors."""

    def __init__(self, stack: str, path: str, raw: object) -> None:
        self.stack = stack
        self.path = path
        if not isinstance(raw, Mapping):
            self.fail(f"must be an object (a YAML mapping), got {_describe(raw)}")
        self.raw = cast(Mapping[str, Any], raw)
        self.used: set[str] = set()

    def fail(self, message: str, key: str | None = None) -> None:
        where = f"{self.path}.{key}" if key else self.path
        raise SettingsError(f"Pulumi.{self.stack}.yaml: {where} {message}")

    def _get(self, key: str, *, optional: bool = False) -> object:
        self.used.add(key)
        if key not in self.raw or self.raw[key] is None:
            if optional:
                return None
            self.fail("is missing", key)
        return self.raw[key]

    def string(self, key: str, *, optional: bool = False) -> str:
        value = self._get(key, optional=optional)
        if value is None:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be a non-empty string, got {_describe(value)}", key)
        return cast(str, value)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer between {low} and {high}, got {_describe(value)}", key)
        number = cast(int, value)
        if not low <= number <= high:
            self.fail(f"must be between {low} and {high}, got {number}", key)
        return number

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {_describe(value)}", key)
        return cast(bool, value)

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self._get(key)
        if value not in allowed:
            options = " or ".join(repr(a) for a in allowed)
            self.fail(f"must be {options}, got {_describe(value)}", key)
        return cast(str, value)

    def cidr(self, key: str) -> str:
        value = self.string(key)
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            self.fail(f"must be a CIDR block such as 10.0.0.0/16, got {value!r} ({exc})", key)
        return value

    def strings(self, key: str, *, allow_empty: bool) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"must be a list of strings, got {_describe(value)}", key)
        items = tuple(cast(list[str], value))
        if not items and not allow_empty:
            self.fail("must list at least one value", key)
        return items

    def section(self, key: str, *, optional: bool = False) -> _Section | None:
        value = self._get(key, optional=optional)
        if value is None:
            return None
        return _Section(self.stack, f"{self.path}.{key}", value)

    def sections(self, key: str) -> list[_Section]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            self.fail(f"must be a non-empty list of objects, got {_describe(value)}", key)
        return [_Section(self.stack, f"{self.path}.{key}[{i}]", v) for i, v in enumerate(cast(list[object], value))]

    def done(self) -> None:
        """Reject unknown keys: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail(f"has unknown key(s) {', '.join(unknown)}; known keys are: {known}")


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    return f"{value!r} ({type(value).__name__})"


def _section(stack: str, config: pulumi.Config, key: str) -> _Section:
    try:
        raw = config.get_object(key)
    except Exception as exc:  # pulumi raises a generic error for malformed JSON
        raise SettingsError(f"Pulumi.{stack}.yaml: {PROJECT}:{key} is not valid structured config ({exc})") from exc
    if raw is None:
        raise SettingsError(f"Pulumi.{stack}.yaml: {PROJECT}:{key} is missing (see README.md, 'Deploy')")
    return _Section(stack, f"{PROJECT}:{key}", raw)


def _workload(section: _Section) -> WorkloadSettings:
    workload = WorkloadSettings(
        replicas=section.integer("replicas", 1, 50),
        cpu=section.string("cpu"),
        memory=section.string("memory"),
    )
    section.done()
    return workload


def _node_group(section: _Section) -> NodeGroupSettings:
    group = NodeGroupSettings(
        name=section.string("name"),
        instance_types=section.strings("instanceTypes", allow_empty=False),
        capacity_type=cast(CapacityType, section.choice("capacityType", ["ON_DEMAND", "SPOT"])),
        arch=cast(Arch, section.choice("arch", ["arm64", "x86_64"])),
        min_size=section.integer("minSize", 0, 100),
        desired_size=section.integer("desiredSize", 0, 100),
        max_size=section.integer("maxSize", 1, 100),
        disk_size_gb=section.integer("diskSizeGb", 20, 1000),
    )
    section.done()
    if not group.min_size <= group.desired_size <= group.max_size:
        section.fail(
            f"must satisfy minSize <= desiredSize <= maxSize, got {group.min_size} <= "
            f"{group.desired_size} <= {group.max_size}"
        )
    return group


def load(config: pulumi.Config, aws_config: pulumi.Config, stack: str) -> StackSettings:
    """Read and validate every setting of ``stack``; raise :class:`SettingsError` on the first problem."""
    region = aws_config.get("region")
    if not region:
        raise SettingsError(f"Pulumi.{stack}.yaml: aws:region is missing (for example eu-west-1)")

    env_value = config.get("environment")
    if env_value not in ("dev", "staging", "prod"):
        raise SettingsError(
            f"Pulumi.{stack}.yaml: {PROJECT}:environment must be 'dev', 'staging' or 'prod', "
            f"got {_describe(env_value)}"
        )
    environment = cast(Environment, env_value)

    tags_s = _section(stack, config, "tags")
    tags = Tags(owner=tags_s.string("owner"), cost_centre=tags_s.string("costCentre"))
    tags_s.done()

    net_s = _section(stack, config, "network")
    network = NetworkSettings(
        cidr=net_s.cidr("cidr"),
        az_count=net_s.integer("azCount", 2, 3),
        nat_gateways=cast(NatStrategy, net_s.choice("natGateways", ["single", "perAz"])),
        flow_log_retention_days=net_s.integer("flowLogRetentionDays", 1, 3653),
    )
    net_s.done()
    if ipaddress.ip_network(network.cidr).prefixlen > 20:
        net_s.fail(f"must be /20 or larger to fit {3 * network.az_count} /24 subnets, got {network.cidr}", "cidr")

    cl_s = _section(stack, config, "cluster")
    cluster = ClusterSettings(
        kubernetes_version=cl_s.string("kubernetesVersion"),
        public_access_cidrs=cl_s.strings("publicAccessCidrs", allow_empty=True),
        admin_role_arn=cl_s.string("adminRoleArn"),
        node_groups=tuple(_node_group(s) for s in cl_s.sections("nodeGroups")),
    )
    cl_s.done()
    for cidr in cluster.public_access_cidrs:
        if cidr in ("0.0.0.0/0", "::/0"):
            cl_s.fail("must be an allow-list; 0.0.0.0/0 would open the Kubernetes API to the world",
                      "publicAccessCidrs")
    if not cluster.admin_role_arn.startswith("arn:aws:iam::"):
        cl_s.fail(f"must be an IAM role ARN, got {cluster.admin_role_arn!r}", "adminRoleArn")

    db_s = _section(stack, config, "database")
    backend = cast(TimeseriesBackend, db_s.choice("timeseriesBackend", ["rds", "timescale"]))
    ts_s = db_s.section("timescale", optional=True)
    timescale: TimescaleSettings | None = None
    if ts_s is not None:
        timescale = TimescaleSettings(
            peer_vpc_id=ts_s.string("peerVpcId"),
            peer_cidr=ts_s.cidr("peerCidr"),
            peer_owner_id=ts_s.string("peerOwnerId"),
            peer_region=ts_s.string("peerRegion"),
        )
        ts_s.done()
    database = DatabaseSettings(
        instance_class=db_s.string("instanceClass"),
        allocated_storage_gb=db_s.integer("allocatedStorageGb", 20, 65536),
        max_allocated_storage_gb=db_s.integer("maxAllocatedStorageGb", 20, 65536),
        multi_az=db_s.boolean("multiAz"),
        backup_retention_days=db_s.integer("backupRetentionDays", 1, 35),
        monitoring_interval_seconds=db_s.integer("monitoringIntervalSeconds", 0, 60),
        performance_insights_retention_days=db_s.integer("performanceInsightsRetentionDays", 7, 731),
        timeseries_backend=backend,
        timescale=timescale,
    )
    db_s.done()
    if database.monitoring_interval_seconds not in (0, 1, 5, 10, 15, 30, 60):
        db_s.fail(f"must be one of 0, 1, 5, 10, 15, 30, 60, got {database.monitoring_interval_seconds}",
                  "monitoringIntervalSeconds")
    if database.max_allocated_storage_gb < database.allocated_storage_gb:
        db_s.fail("must be at least allocatedStorageGb", "maxAllocatedStorageGb")
    if backend == "timescale" and timescale is None:
        db_s.fail("is required when timeseriesBackend is 'timescale' (peerVpcId, peerCidr, peerOwnerId, "
                  "peerRegion of the TimescaleDB service)", "timescale")

    ca_s = _section(stack, config, "cache")
    cache = CacheSettings(
        node_type=ca_s.string("nodeType"),
        engine_version=ca_s.string("engineVersion"),
        replicas=ca_s.integer("replicas", 0, 5),
        snapshot_retention_days=ca_s.integer("snapshotRetentionDays", 0, 35),
    )
    ca_s.done()

    st_s = _section(stack, config, "storage")
    storage = StorageSettings(
        archive_ia_after_days=st_s.integer("archiveInfrequentAccessAfterDays", 30, 3650),
        archive_glacier_after_days=st_s.integer("archiveGlacierAfterDays", 31, 3650),
        archive_expire_after_days=st_s.integer("archiveExpireAfterDays", 32, 36500),
    )
    st_s.done()
    if not storage.archive_ia_after_days < storage.archive_glacier_after_days < storage.archive_expire_after_days:
        st_s.fail("must satisfy archiveInfrequentAccessAfterDays < archiveGlacierAfterDays < archiveExpireAfterDays")

    sv_s = _section(stack, config, "service")
    api_s, proj_s, maint_s = (sv_s.section(k) for k in ("api", "projector", "maintenance"))
    assert api_s is not None and proj_s is not None and maint_s is not None
    service = ServiceSettings(
        hostname=sv_s.string("hostname"),
        certificate_arn=sv_s.string("certificateArn"),
        log_level=cast(LogLevel, sv_s.choice("logLevel", ["debug", "info", "warning", "error"])),
        api=_workload(api_s),
        api_max_replicas=sv_s.integer("apiMaxReplicas", 1, 100),
        api_target_cpu_percent=sv_s.integer("apiTargetCpuPercent", 20, 95),
        projector=_workload(proj_s),
        maintenance=_workload(maint_s),
        archive_enabled=sv_s.boolean("archiveEnabled"),
    )
    sv_s.done()
    if service.api_max_replicas < service.api.replicas:
        sv_s.fail(f"must be at least api.replicas ({service.api.replicas})", "apiMaxReplicas")
    if not service.certificate_arn.startswith("arn:aws:acm:"):
        sv_s.fail(f"must be an ACM certificate ARN, got {service.certificate_arn!r}", "certificateArn")

    ob_s = _section(stack, config, "observability")
    th_s = ob_s.section("alarmThresholds")
    assert th_s is not None
    thresholds = AlarmThresholds(
        rds_cpu_percent=th_s.integer("rdsCpuPercent", 1, 100),
        rds_free_storage_gb=th_s.integer("rdsFreeStorageGb", 1, 10000),
        rds_free_memory_mb=th_s.integer("rdsFreeMemoryMb", 1, 100000),
        rds_connections=th_s.integer("rdsConnections", 1, 100000),
        redis_cpu_percent=th_s.integer("redisCpuPercent", 1, 100),
        redis_memory_percent=th_s.integer("redisMemoryPercent", 1, 100),
        redis_evictions=th_s.integer("redisEvictions", 0, 1000000),
        api_5xx_per_minute=th_s.integer("api5xxPerMinute", 1, 100000),
        projection_lag_seconds=th_s.integer("projectionLagSeconds", 1, 86400),
    )
    th_s.done()
    alarm_email = ob_s.string("alarmEmail", optional=True) or None
    observability = ObservabilitySettings(
        log_retention_days=ob_s.integer("logRetentionDays", 1, 3653),
        route_alarms=ob_s.boolean("routeAlarms"),
        alarm_email=alarm_email,
        thresholds=thresholds,
    )
    ob_s.done()

    pr_s = _section(stack, config, "protection")
    protection = ProtectionSettings(enabled=pr_s.boolean("enabled"))
    pr_s.done()

    secrets = Secrets(
        redis_auth_token=config.get_secret("redisAuthToken"),
        bootstrap_admin_key=config.get_secret("bootstrapAdminKey"),
        timescale_dsn=config.get_secret("timescaleDsn"),
    )
    if backend == "timescale" and secrets.timescale_dsn is None:
        raise SettingsError(
            f"Pulumi.{stack}.yaml: {PROJECT}:timescaleDsn is missing; set it with "
            f"`pulumi config set --secret timescaleDsn 'postgresql://...' --stack {stack}`"
        )

    settings = StackSettings(
        stack=stack, environment=environment, region=region, tags=tags, network=network, cluster=cluster,
        database=database, cache=cache, storage=storage, service=service, observability=observability,
        protection=protection, secrets=secrets,
    )
    _check_hardening(settings)
    return settings


def _check_hardening(s: StackSettings) -> None:
    """The prod column of the hardening table in README.md ("Deploy"), enforced before anything is declared."""
    if s.environment != "prod":
        return
    problems: list[str] = []
    if s.network.az_count != 3:
        problems.append(f"{PROJECT}:network.azCount must be 3 in prod, got {s.network.az_count}")
    if s.network.nat_gateways != "perAz":
        problems.append(
            f"{PROJECT}:network.natGateways must be 'perAz' in prod (one NAT gateway per AZ, so losing an AZ "
            f"does not cut egress), got {s.network.nat_gateways!r}"
        )
    if s.cluster.public_access_cidrs:
        problems.append(f"{PROJECT}:cluster.publicAccessCidrs must be empty in prod (private endpoint only)")
    if not any(g.capacity_type == "ON_DEMAND" for g in s.cluster.node_groups):
        problems.append(f"{PROJECT}:cluster.nodeGroups needs at least one ON_DEMAND group in prod")
    if any(g.min_size < 2 for g in s.cluster.node_groups if g.capacity_type == "ON_DEMAND"):
        problems.append(f"{PROJECT}:cluster.nodeGroups[*].minSize must be >= 2 in prod (nodes in >= 2 AZs)")
    if not s.database.multi_az:
        problems.append(f"{PROJECT}:database.multiAz must be true in prod")
    if not 14 <= s.database.backup_retention_days <= 35:
        problems.append(
            f"{PROJECT}:database.backupRetentionDays must be 14..35 in prod, got {s.database.backup_retention_days}"
        )
    if s.database.monitoring_interval_seconds == 0:
        problems.append(f"{PROJECT}:database.monitoringIntervalSeconds must be > 0 in prod (enhanced monitoring)")
    if s.cache.replicas < 1:
        problems.append(f"{PROJECT}:cache.replicas must be >= 1 in prod (Multi-AZ with automatic failover)")
    if s.cache.snapshot_retention_days < 1:
        problems.append(f"{PROJECT}:cache.snapshotRetentionDays must be >= 1 in prod")
    if not s.protection.enabled:
        problems.append(f"{PROJECT}:protection.enabled must be true in prod")
    if not s.observability.route_alarms:
        problems.append(f"{PROJECT}:observability.routeAlarms must be true in prod")
    if problems:
        raise SettingsError(f"Pulumi.{s.stack}.yaml breaks the prod hardening rules:\n  - " + "\n  - ".join(problems))
