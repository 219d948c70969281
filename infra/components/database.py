"""The service's PostgreSQL: RDS PostgreSQL 17, or an external TimescaleDB reached by VPC peering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components.iam import service_trust
from infra.stack_config import PROJECT, Section

# Major version only: with auto minor upgrades on, RDS moves the minor (17.5 -> 17.6) and a pinned minor would
# make the next preview propose a downgrade, which RDS refuses. The provider accepts a major-version prefix.
ENGINE_MAJOR = "17"
ENGINE_VERSION = ENGINE_MAJOR
PARAMETER_FAMILY = f"postgres{ENGINE_MAJOR}"
DATABASE_NAME = "sensorhub"
MASTER_USERNAME = "sensorhub_admin"
# The service's own login role, created by the bootstrap Job (infra/components/service.py); never the master user.
APP_USERNAME = "sensorhub_app"
PORT = 5432
TimeseriesBackend = Literal["rds", "timescale"]


@dataclass(frozen=True)
class TimescaleSettings:
    peer_vpc_id: str
    peer_cidr: str
    peer_owner_id: str
    peer_region: str

    @classmethod
    def read(cls, section: Section) -> TimescaleSettings:
        settings = cls(
            peer_vpc_id=section.string("peerVpcId"),
            peer_cidr=section.cidr("peerCidr"),
            peer_owner_id=section.string("peerOwnerId"),
            peer_region=section.string("peerRegion"),
        )
        section.done()
        return settings


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

    @classmethod
    def read(cls, section: Section) -> DatabaseSettings:
        backend = cast(TimeseriesBackend, section.choice("timeseriesBackend", ["rds", "timescale"]))
        timescale_section = section.optional_section("timescale")
        settings = cls(
            instance_class=section.string("instanceClass"),
            allocated_storage_gb=section.integer("allocatedStorageGb", 20, 65536),
            max_allocated_storage_gb=section.integer("maxAllocatedStorageGb", 20, 65536),
            multi_az=section.boolean("multiAz"),
            backup_retention_days=section.integer("backupRetentionDays", 1, 35),
            monitoring_interval_seconds=section.integer("monitoringIntervalSeconds", 0, 60),
            performance_insights_retention_days=section.integer("performanceInsightsRetentionDays", 7, 731),
            timeseries_backend=backend,
            timescale=TimescaleSettings.read(timescale_section) if timescale_section is not None else None,
        )
        section.done()
        if settings.monitoring_interval_seconds not in (0, 1, 5, 10, 15, 30, 60):
            section.fail(f"must be one of 0, 1, 5, 10, 15, 30, 60, got {settings.monitoring_interval_seconds}",
                         "monitoringIntervalSeconds")
        if settings.max_allocated_storage_gb < settings.allocated_storage_gb:
            section.fail("must be at least allocatedStorageGb", "maxAllocatedStorageGb")
        if backend == "timescale" and settings.timescale is None:
            section.fail("is required when timeseriesBackend is 'timescale' (peerVpcId, peerCidr, peerOwnerId, "
                         "peerRegion of the TimescaleDB service)", "timescale")
        return settings

    def prod_problems(self) -> list[str]:
        problems = []
        if not self.multi_az:
            problems.append(f"{PROJECT}:database.multiAz must be true in prod")
        if not 14 <= self.backup_retention_days <= 35:
            problems.append(
                f"{PROJECT}:database.backupRetentionDays must be 14..35 in prod, got {self.backup_retention_days}"
            )
        if self.monitoring_interval_seconds == 0:
            problems.append(f"{PROJECT}:database.monitoringIntervalSeconds must be > 0 in prod (enhanced monitoring)")
        return problems


@dataclass(frozen=True)
class AppCredentials:
    """The service's login role: its name and a password Pulumi generates (rotate: `pulumi up --replace` it)."""

    username: str
    password: pulumi.Output[str]


@dataclass(frozen=True)
class DatabaseArgs:
    prefix: str
    settings: DatabaseSettings
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    isolated_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    node_security_group_id: pulumi.Input[str]
    storage_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    timescale_dsn: pulumi.Output[str] | None
    protected: bool


class Database(pulumi.ComponentResource):
    """Exposes ``endpoint``, ``credentials_secret_arn`` and, on RDS, the service's ``app_credentials``.

    On RDS ``credentials_secret_arn`` is the RDS-managed master secret: it rotates every 7 days and only the
    bootstrap Job reads it. With the timescale backend it is the DSN secret the service reads.
    """

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:database:Database", name, None, opts)
        self.instance: aws.rds.Instance | None = None
        self.app_credentials: AppCredentials | None = None
        if args.settings.timeseries_backend == "rds":
            self._rds(name, args)
        else:
            self._timescale(name, args)
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "credentialsSecretArn": self.credentials_secret_arn,
                "engine": self.engine,
            }
        )

    def _rds(self, name: str, args: DatabaseArgs) -> None:
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protected)
        identifier = f"{args.prefix}-postgres"
        sg = aws.ec2.SecurityGroup(
            f"{name}-postgres",
            description="PostgreSQL from the EKS nodes only",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="PostgreSQL from EKS nodes", protocol="tcp", from_port=PORT, to_port=PORT,
                    security_groups=[args.node_security_group_id],
                )
            ],
            egress=[],
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(f"{name}-isolated", subnet_ids=args.isolated_subnet_ids, opts=child)
        params = aws.rds.ParameterGroup(
            f"{name}-pg17",
            family=PARAMETER_FAMILY,
            description=f"{args.prefix} PostgreSQL 17: TLS only, pg_stat_statements, pg_cron, logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(
                    name="shared_preload_libraries", value="pg_stat_statements,pg_cron", apply_method="pending-reboot"
                ),
                aws.rds.ParameterGroupParameterArgs(
                    name="cron.database_name", value=DATABASE_NAME, apply_method="pending-reboot"
                ),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="500"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_lock_waits", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_temp_files", value="0"),
            ],
            opts=child,
        )
        # Created before the instance so retention and encryption are ours.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-postgresql-log",
            name=f"/aws/rds/instance/{identifier}/postgresql",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        monitoring_role_arn: pulumi.Output[str] | None = None
        if s.monitoring_interval_seconds:
            role = aws.iam.Role(
                f"{name}-monitoring", assume_role_policy=service_trust("monitoring.rds.amazonaws.com"), opts=child
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-monitoring",
                role=role.name,
                policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
                opts=child,
            )
            monitoring_role_arn = role.arn

        self.instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine="postgres",
            engine_version=ENGINE_VERSION,
            instance_class=s.instance_class,
            db_name=DATABASE_NAME,
            username=MASTER_USERNAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.secrets_key_arn,
            iam_database_authentication_enabled=True,
            port=PORT,
            allocated_storage=s.allocated_storage_gb,
            max_allocated_storage=s.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.storage_key_arn,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            multi_az=s.multi_az,
            backup_retention_period=s.backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.storage_key_arn,
            performance_insights_retention_period=s.performance_insights_retention_days,
            monitoring_interval=s.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role_arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            deletion_protection=args.protected,
            skip_final_snapshot=not args.protected,
            final_snapshot_identifier=f"{identifier}-final" if args.protected else None,
            apply_immediately=not args.protected,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[log_group])),
        )
        self.engine = "postgres"
        self.identifier = identifier
        self.endpoint = self.instance.address
        password = random.RandomPassword(f"{name}-app-password", length=40, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        self.app_credentials = AppCredentials(APP_USERNAME, pulumi.Output.secret(password.result))
        # The RDS-managed master secret holds {"username", "password"} and rotates every 7 days.
        self.credentials_secret_arn: pulumi.Output[str] = self.instance.master_user_secrets.apply(
            lambda secrets: (secrets[0].secret_arn or "") if secrets else ""
        )

    def _timescale(self, name: str, args: DatabaseArgs) -> None:
        ts = args.settings.timescale
        assert ts is not None and args.timescale_dsn is not None  # enforced by settings
        peering = aws.ec2.VpcPeeringConnection(
            f"{name}-timescale",
            vpc_id=args.vpc_id,
            peer_vpc_id=ts.peer_vpc_id,
            peer_owner_id=ts.peer_owner_id,
            peer_region=ts.peer_region,
            tags={"Name": f"{args.prefix}-timescale"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for i, route_table_id in enumerate(args.private_route_table_ids):
            aws.ec2.Route(
                f"{name}-timescale-{i}",
                route_table_id=route_table_id,
                destination_cidr_block=ts.peer_cidr,
                vpc_peering_connection_id=peering.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        secret = aws.secretsmanager.Secret(
            f"{name}-timescale-dsn",
            name=f"{args.prefix}/timescale-dsn",
            description="DSN of the external TimescaleDB service",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=30 if args.protected else 0,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-timescale-dsn",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(args.timescale_dsn),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.engine = "timescaledb"
        self.identifier = f"{args.prefix}-timescale"
        self.endpoint = pulumi.Output.from_input(f"peered:{ts.peer_cidr}")
        self.credentials_secret_arn = secret.arn
