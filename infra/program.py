"""The sensorhub platform, one concern per component. Read top to bottom: it is the table of contents."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import settings as settings_module
from infra.components import service as service_module
from infra.components.cache import Cache, CacheArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.database import Database, DatabaseArgs
from infra.components.keys import Keys, KeysArgs
from infra.components.network import Vpc, VpcArgs
from infra.components.observability import Observability, ObservabilityArgs
from infra.components.platform_addons import GP3, PlatformAddons, PlatformAddonsArgs
from infra.components.registry import Registry, RegistryArgs
from infra.components.service import Service, ServiceArgs
from infra.components.storage import Storage, StorageArgs
from infra.settings import StackSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_settings() -> StackSettings:
    """Settings of the selected stack; fails before any resource is declared."""
    stack = pulumi.get_stack()
    return settings_module.load(pulumi.Config(settings_module.PROJECT), pulumi.Config("aws"), stack)


def default_tags(s: StackSettings) -> dict[str, str]:
    return {
        "project": settings_module.PROJECT,
        "stack": s.stack,
        "environment": s.environment,
        "owner": s.tags.owner,
        "cost-centre": s.tags.cost_centre,
        "managed-by": "pulumi",
    }


def build(s: StackSettings) -> None:
    """Declare the whole platform for one stack and export its outputs."""
    tags = default_tags(s)
    provider = aws.Provider("aws", region=s.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    on_aws = pulumi.ResourceOptions(providers={"aws": provider})
    invoke = pulumi.InvokeOptions(provider=provider)
    account_id = aws.get_caller_identity(opts=invoke).account_id
    zones = aws.get_availability_zones(state="available", opts=invoke).names[: s.network.az_count]
    zones = list(zones)
    cluster_name = s.prefix
    protected = s.protection.enabled

    keys = Keys("keys", KeysArgs(prefix=s.prefix, region=s.region, account_id=account_id,
                                 deletion_window_days=30 if protected else 7), on_aws)

    network = Vpc("network", VpcArgs(
        prefix=s.prefix, region=s.region, cidr=s.network.cidr, availability_zones=zones,
        nat_gateways=s.network.nat_gateways, flow_log_retention_days=s.network.flow_log_retention_days,
        logs_key_arn=keys.arn("logs"), cluster_name=cluster_name,
    ), on_aws)

    cluster = Cluster("cluster", ClusterArgs(
        cluster_name=cluster_name, settings=s.cluster, vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids, private_subnet_ids=network.private_subnet_ids,
        secrets_key_arn=keys.arn("eks"), logs_key_arn=keys.arn("logs"),
        log_retention_days=s.observability.log_retention_days, deletion_protection=protected, tags=tags,
    ), on_aws)
    nodes_sg = cluster.cluster_security_group_id

    database = Database("database", DatabaseArgs(
        prefix=s.prefix, settings=s.database, vpc_id=network.vpc_id, vpc_cidr=s.network.cidr,
        isolated_subnet_ids=network.isolated_subnet_ids,
        private_route_table_ids=[rt.id for rt in network.private_route_tables],
        node_security_group_id=nodes_sg, storage_key_arn=keys.arn("rds"), secrets_key_arn=keys.arn("secrets"),
        logs_key_arn=keys.arn("logs"), log_retention_days=s.observability.log_retention_days,
        timescale_dsn=s.secrets.timescale_dsn, protected=protected,
    ), on_aws)

    cache = Cache("cache", CacheArgs(
        prefix=s.prefix, settings=s.cache, vpc_id=network.vpc_id, isolated_subnet_ids=network.isolated_subnet_ids,
        node_security_group_id=nodes_sg, cache_key_arn=keys.arn("cache"), secrets_key_arn=keys.arn("secrets"),
        logs_key_arn=keys.arn("logs"), log_retention_days=s.observability.log_retention_days,
        auth_token=s.secrets.redis_auth_token, protected=protected,
    ), on_aws)

    storage = Storage("storage", StorageArgs(
        prefix=s.prefix, settings=s.storage, vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids,
        node_security_group_id=nodes_sg, storage_key_arn=keys.arn("storage"), protected=protected,
    ), on_aws)

    arch = s.cluster.node_groups[0].arch
    registry = Registry("registry", RegistryArgs(
        prefix=s.prefix, repo_root=REPO_ROOT, platform=f"linux/{'arm64' if arch == 'arm64' else 'amd64'}",
        protected=protected,
    ), on_aws)

    addons = PlatformAddons("addons", PlatformAddonsArgs(
        prefix=s.prefix, cluster_name=cluster_name, region=s.region, vpc_id=network.vpc_id,
        oidc_provider_arn=cluster.oidc_provider_arn, oidc_provider_url=cluster.oidc_provider_url,
        k8s_provider=cluster.provider, file_system_id=storage.file_system.id, logs_key_arn=keys.arn("logs"),
        log_retention_days=s.observability.log_retention_days, workload_namespace=service_module.NAMESPACE,
    ), pulumi.ResourceOptions(providers={"aws": provider},
                              depends_on=[*cluster.node_groups, *cluster.addons.values()]))

    service = Service("service", ServiceArgs(
        prefix=s.prefix, environment=s.environment, region=s.region, settings=s.service,
        image_ref=registry.image_ref, k8s_provider=cluster.provider,
        oidc_provider_arn=cluster.oidc_provider_arn, oidc_provider_url=cluster.oidc_provider_url,
        archive_bucket=storage.bucket.bucket, archive_bucket_arn=storage.bucket.arn,
        database_engine=database.engine, database_endpoint=database.endpoint,
        database_secret_arn=database.credentials_secret_arn, app_credentials=database.app_credentials,
        cache_endpoint=cache.endpoint, cache_secret_arn=cache.auth_secret_arn,
        secrets_key_arn=keys.arn("secrets"), storage_key_arn=keys.arn("storage"),
        personal_data_key_arn=keys.arn("personal"),
        bootstrap_admin_key=s.secrets.bootstrap_admin_key, protected=protected,
        depends_on=[addons.external_secrets, addons.load_balancer_controller, cluster.addons["metrics-server"]],
    ), on_aws)

    Observability("observability", ObservabilityArgs(
        prefix=s.prefix, region=s.region, settings=s.observability, logs_key_arn=keys.arn("logs"),
        k8s_provider=cluster.provider,
        database_identifier=database.identifier if database.instance is not None else None,
        cache_replication_group_id=cache.replication_group_id, cache_node_count=1 + s.cache.replicas,
        oidc_provider_arn=cluster.oidc_provider_arn, oidc_provider_url=cluster.oidc_provider_url,
        workload_namespace=service_module.NAMESPACE, workload_labels=service_module.labels, storage_class=GP3,
        depends_on=[service.namespace, addons.storage_classes[GP3]],
    ), on_aws)

    pulumi.export("apiUrl", service.api_url)
    pulumi.export("clusterName", cluster.name)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig_json))
    pulumi.export("databaseEndpoint", database.endpoint)
    pulumi.export("databaseEngine", database.engine)
    pulumi.export("redisEndpoint", cache.endpoint)
    pulumi.export("archiveBucket", storage.bucket.bucket)
    pulumi.export("fileSystemId", storage.file_system.id)
    pulumi.export("imageRef", registry.image_ref)
