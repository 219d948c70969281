"""ElastiCache (Valkey) replication group: encrypted in transit and at rest, token-authenticated."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.stack_config import PROJECT, Section

PORT = 6379


@dataclass(frozen=True)
class CacheSettings:
    node_type: str
    engine_version: str
    replicas: int
    snapshot_retention_days: int

    @classmethod
    def read(cls, section: Section) -> CacheSettings:
        settings = cls(
            node_type=section.string("nodeType"),
            engine_version=section.string("engineVersion"),
            replicas=section.integer("replicas", 0, 5),
            snapshot_retention_days=section.integer("snapshotRetentionDays", 0, 35),
        )
        section.done()
        return settings

    def prod_problems(self) -> list[str]:
        problems = []
        if self.replicas < 1:
            problems.append(f"{PROJECT}:cache.replicas must be >= 1 in prod (Multi-AZ with automatic failover)")
        if self.snapshot_retention_days < 1:
            problems.append(f"{PROJECT}:cache.snapshotRetentionDays must be >= 1 in prod")
        return problems


@dataclass(frozen=True)
class CacheArgs:
    prefix: str
    settings: CacheSettings
    vpc_id: pulumi.Input[str]
    isolated_subnet_ids: list[pulumi.Output[str]]
    node_security_group_id: pulumi.Input[str]
    cache_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    auth_token: pulumi.Output[str] | None
    protected: bool


class Cache(pulumi.ComponentResource):
    """Exposes ``endpoint`` and ``auth_secret_arn`` (a JSON secret ``{"token": ...}`` for the workloads)."""

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:cache:Cache", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        ha = s.replicas >= 1

        if args.auth_token is not None:
            token = args.auth_token
        else:
            # No token configured: generate one; it lives only in Pulumi state (encrypted) and Secrets Manager.
            token = random.RandomPassword(f"{name}-auth-token", length=48, special=False, opts=child).result

        sg = aws.ec2.SecurityGroup(
            f"{name}-redis",
            description="Redis/Valkey from the EKS nodes only",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="Valkey from EKS nodes", protocol="tcp", from_port=PORT, to_port=PORT,
                    security_groups=[args.node_security_group_id],
                )
            ],
            egress=[],
            opts=child,
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-isolated", description=f"{args.prefix} cache", subnet_ids=args.isolated_subnet_ids, opts=child
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-slow-log",
            name=f"/{args.prefix}/elasticache/slow-log",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        self.group = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=f"{args.prefix}-cache",
            description=f"{args.prefix} cache and projection fan-out",
            engine="valkey",
            engine_version=s.engine_version,
            node_type=s.node_type,
            port=PORT,
            num_cache_clusters=1 + s.replicas,
            automatic_failover_enabled=ha,
            multi_az_enabled=ha,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.cache_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=pulumi.Output.secret(token),
            auth_token_update_strategy="ROTATE",  # noqa: S106 - a strategy name, not a token
            snapshot_retention_limit=s.snapshot_retention_days,
            snapshot_window="01:00-02:00" if s.snapshot_retention_days else None,
            final_snapshot_identifier=f"{args.prefix}-cache-final" if args.protected else None,
            maintenance_window="sun:04:30-sun:05:30",
            auto_minor_version_upgrade=True,
            apply_immediately=not args.protected,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=log_group.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected),
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-auth",
            name=f"{args.prefix}/cache-auth",
            description="Auth token of the Valkey replication group",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=30 if args.protected else 0,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-auth",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(token).apply(lambda t: json.dumps({"token": t})),
            opts=child,
        )
        self.replication_group_id = f"{args.prefix}-cache"
        self.endpoint = self.group.primary_endpoint_address
        self.auth_secret_arn = secret.arn
        self.register_outputs({"endpoint": self.endpoint, "authSecretArn": secret.arn})
