"""The whole declared graph of each real stack file, under mocks: hardening, counts, wiring, secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass

from infra.offline.mocks import Graph, secret_sentinels


@dataclass(frozen=True)
class Hardening:
    """One column of the hardening table (docs/deploy.md) as the graph must show it."""

    azs: int
    nats: int
    office_access: bool
    protected: bool
    rds_multi_az: bool
    enhanced_monitoring: bool
    backup_days: tuple[int, int]
    redis_replicas_min: int
    alarms_routed: bool


HARDENING = {
    "dev": Hardening(azs=2, nats=1, office_access=True, protected=False, rds_multi_az=False,
                     enhanced_monitoring=False, backup_days=(1, 7), redis_replicas_min=0, alarms_routed=False),
    "staging": Hardening(azs=3, nats=1, office_access=True, protected=False, rds_multi_az=True,
                         enhanced_monitoring=True, backup_days=(1, 35), redis_replicas_min=1, alarms_routed=True),
    "prod": Hardening(azs=3, nats=3, office_access=False, protected=True, rds_multi_az=True,
                      enhanced_monitoring=True, backup_days=(14, 35), redis_replicas_min=1, alarms_routed=True),
}

RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS = "eks:index:Cluster"


def expected(graph: Graph) -> Hardening:
    return HARDENING[graph.stack]


# ----------------------------------------------------------------------------- hardening table, row by row


def test_azs_and_nat_gateways(graph: Graph) -> None:
    h = expected(graph)
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 3 * h.azs  # public, private, isolated per AZ
    assert len({s.props["availabilityZone"] for s in subnets}) == h.azs
    assert graph.count("aws:ec2/natGateway:NatGateway") == h.nats
    assert graph.count("aws:ec2/eip:Eip") == h.nats
    private_routes = [rt for rt in graph.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in rt.name]
    nat_ids = {rt.props["routes"][0]["natGatewayId"] for rt in private_routes}
    assert len(private_routes) == h.azs and len(nat_ids) == h.nats


def test_eks_endpoint(graph: Graph) -> None:
    cluster = graph.of_type(EKS)[0].props
    assert cluster["endpointPrivateAccess"] is True
    # Public only to an allow-list that holds the deploy runners (tests/infra/test_reachability.py); the office
    # range only outside prod.
    assert cluster["endpointPublicAccess"] is True
    cidrs = set(cluster["publicAccessCidrs"])
    assert "0.0.0.0/0" not in cidrs and "198.51.100.10/32" in cidrs
    assert ("203.0.113.0/24" in cidrs) is expected(graph).office_access


def test_eks_logs_kms_auth_oidc_on(graph: Graph) -> None:
    cluster = graph.of_type(EKS)[0].props
    assert set(cluster["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager",
                                                       "scheduler"}
    assert cluster["encryptionConfigKeyArn"].startswith("arn:aws:kms:")
    assert cluster["authenticationMode"] == "API"
    assert cluster["accessEntries"]["platform-admins"]["principalArn"].startswith("arn:aws:iam::")
    assert cluster["createOidcProvider"] is True
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}


def test_deletion_protection_protect_and_final_snapshot(graph: Graph) -> None:
    on = expected(graph).protected
    rds = graph.of_type(RDS)[0]
    assert rds.props["deletionProtection"] is on
    assert rds.props["skipFinalSnapshot"] is (not on)
    assert bool(rds.props.get("finalSnapshotIdentifier")) is on
    assert graph.of_type(EKS)[0].props["deletionProtection"] is on
    assert bool(graph.of_type(REDIS)[0].props.get("finalSnapshotIdentifier")) is on
    for type_ in (RDS, REDIS, "aws:efs/fileSystem:FileSystem", "aws:s3/bucket:Bucket",
                  "aws:ecr/repository:Repository"):
        assert all(r.protect is on for r in graph.of_type(type_)), type_
    bucket = graph.of_type("aws:s3/bucket:Bucket")[0]
    assert bucket.retain_on_delete is on
    assert bucket.props["forceDestroy"] is (not on)


def test_rds_multi_az_monitoring_and_backups(graph: Graph) -> None:
    h = expected(graph)
    rds = graph.of_type(RDS)[0].props
    assert rds["multiAz"] is h.rds_multi_az
    assert (rds["monitoringInterval"] > 0) is h.enhanced_monitoring
    assert bool(rds.get("monitoringRoleArn")) is h.enhanced_monitoring
    low, high = h.backup_days
    assert low <= rds["backupRetentionPeriod"] <= high
    assert rds["engine"] == "postgres" and rds["engineVersion"].startswith("17")
    assert rds["performanceInsightsEnabled"] is True and rds["iamDatabaseAuthenticationEnabled"] is True
    assert rds["manageMasterUserPassword"] is True and "password" not in rds
    assert rds["publiclyAccessible"] is False


def test_rds_parameter_group(graph: Graph) -> None:
    params = {p["name"]: p["value"] for p in graph.of_type("aws:rds/parameterGroup:ParameterGroup")[0].props[
        "parameters"]}
    assert params["rds.force_ssl"] == "1"
    assert set(params["shared_preload_libraries"].split(",")) == {"pg_stat_statements", "pg_cron"}
    assert "log_min_duration_statement" in params


def test_encryption_at_rest_and_in_transit_everywhere(graph: Graph) -> None:
    rds = graph.of_type(RDS)[0].props
    assert rds["storageEncrypted"] is True and rds["kmsKeyId"]
    redis = graph.of_type(REDIS)[0].props
    assert redis["atRestEncryptionEnabled"] is True and redis["kmsKeyId"]
    assert redis["transitEncryptionEnabled"] is True and redis["transitEncryptionMode"] == "required"
    efs = graph.of_type("aws:efs/fileSystem:FileSystem")[0].props
    assert efs["encrypted"] is True and efs["kmsKeyId"]
    assert "aws:SecureTransport" in graph.of_type("aws:efs/fileSystemPolicy:FileSystemPolicy")[0].props["policy"]
    sse = graph.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0].props
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert "aws:SecureTransport" in graph.of_type("aws:s3/bucketPolicy:BucketPolicy")[0].props["policy"]
    assert all(g.props["kmsKeyId"] for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup"))
    assert all(k.props["enableKeyRotation"] is True for k in graph.of_type("aws:kms/key:Key"))
    assert graph.count("aws:kms/key:Key") == 7


def test_redis_replicas_and_failover(graph: Graph) -> None:
    redis = graph.of_type(REDIS)[0].props
    replicas = redis["numCacheClusters"] - 1
    assert replicas >= expected(graph).redis_replicas_min
    ha = replicas >= 1
    assert redis["automaticFailoverEnabled"] is ha and redis["multiAzEnabled"] is ha
    if graph.stack == "dev":
        assert replicas == 0
    if graph.stack == "prod":
        assert redis["snapshotRetentionLimit"] >= 1


def test_s3_versioning_lifecycle_and_public_access(graph: Graph) -> None:
    versioning = graph.of_type("aws:s3/bucketVersioning:BucketVersioning")[0].props
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    rule = graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0].props["rules"][0]
    assert [t["storageClass"] for t in rule["transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rule["expiration"]["days"] > rule["transitions"][-1]["days"]
    block = graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].props
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    ownership = graph.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[0].props
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_alarms_created_and_routed(graph: Graph) -> None:
    alarms = graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    metrics = {a.props["metricName"] for a in alarms}
    assert {"CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections", "EngineCPUUtilization",
            "DatabaseMemoryUsagePercentage", "Evictions"} <= metrics
    topic_arn = graph.of_type("aws:sns/topic:Topic")[0]
    assert topic_arn.props["kmsMasterKeyId"]
    routed = [bool(a.props.get("alarmActions")) for a in alarms]
    assert all(routed) if expected(graph).alarms_routed else not any(routed)
    rules = graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")[0].props
    alerts = {r["alert"] for r in rules["spec"]["groups"][0]["rules"]}
    assert alerts == {"SensorhubApi5xx", "SensorhubProjectionLag", "SensorhubFeedHorizonStuck"}
    release = next(r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.props["chart"] ==
                   "kube-prometheus-stack")
    receivers = release.props["values"]["alertmanager"].get("config", {}).get("receivers", [])
    assert bool(receivers) is expected(graph).alarms_routed


# ----------------------------------------------------------------------------- counts and shape


def test_network_shape(graph: Graph) -> None:
    assert graph.count("aws:ec2/vpc:Vpc") == 1
    assert graph.count("aws:ec2/internetGateway:InternetGateway") == 1
    assert graph.count("aws:ec2/flowLog:FlowLog") == 1
    default_sg = graph.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")[0].props
    assert default_sg["ingress"] == [] and default_sg["egress"] == []
    prefix = "com.amazonaws.eu-west-1."
    endpoints = {e.props["serviceName"].removeprefix(prefix) for e in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints == {"s3", "ecr.api", "ecr.dkr", "sts", "logs"}
    assert not any(s.props.get("mapPublicIpOnLaunch") for s in graph.of_type("aws:ec2/subnet:Subnet"))


def test_node_groups(graph: Graph) -> None:
    groups = graph.of_type("eks:index:ManagedNodeGroup")
    assert len(groups) == 1
    group = groups[0].props
    private = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(group["subnetIds"]) == private
    assert group["capacityType"] == ("SPOT" if graph.stack == "dev" else "ON_DEMAND")
    if graph.stack == "prod":
        assert group["scalingConfig"]["minSize"] >= 2 and len(private) >= 2
    addons = {a.props["addonName"]: a.props for a in graph.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"aws-ebs-csi-driver", "aws-efs-csi-driver", "metrics-server"}
    version = graph.of_type(EKS)[0].props["version"]
    assert all(a["addonVersion"].endswith(f"-for-{version}") for a in addons.values())  # resolved per K8s version


def test_data_stores_admit_only_the_nodes(graph: Graph) -> None:
    isolated = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "-isolated-" in s.name}
    assert set(graph.of_type("aws:rds/subnetGroup:SubnetGroup")[0].props["subnetIds"]) == isolated
    assert set(graph.of_type("aws:elasticache/subnetGroup:SubnetGroup")[0].props["subnetIds"]) == isolated
    for sg in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in sg.props.get("ingress", []):
            if sg.name == "network-endpoints":
                assert rule["cidrBlocks"] == [graph.of_type("aws:ec2/vpc:Vpc")[0].props["cidrBlock"]]
                continue
            assert rule["securityGroups"] == ["sg-0eksclustermock"], sg.name
            assert not rule.get("cidrBlocks")


def test_every_aws_resource_uses_the_tagged_provider(graph: Graph) -> None:
    provider = graph.of_type("pulumi:providers:aws")
    assert len(provider) == 1
    tags = json.loads(provider[0].props["defaultTags"])["tags"]
    assert tags["project"] == "sensorhub" and tags["stack"] == graph.stack
    assert tags["owner"] and tags["cost-centre"]
    for r in graph:
        if r.type.startswith("aws:"):
            assert r.provider_urn == provider[0].urn, r.urn
    assert graph.of_type(EKS)[0].providers["aws"].startswith(provider[0].urn)


def test_components_are_namespaced_and_parent_their_children(graph: Graph) -> None:
    components = [r for r in graph if r.type.startswith("sensorhub:")]
    assert {c.type for c in components} == {
        "sensorhub:keys:Keys", "sensorhub:network:Vpc", "sensorhub:cluster:Cluster",
        "sensorhub:cluster:PlatformAddons", "sensorhub:database:Database", "sensorhub:cache:Cache",
        "sensorhub:storage:Storage", "sensorhub:registry:Registry", "sensorhub:service:Service",
        "sensorhub:observability:Observability",
    }
    top_level = {"pulumi:providers:aws", *(c.type for c in components)}
    # Everything else lives under a component: its qualified type starts with a sensorhub: component.
    orphans = [r.urn for r in graph if r.type not in top_level and not r.urn.split("::")[2].startswith("sensorhub:")]
    assert orphans == []


# ----------------------------------------------------------------------------- Kubernetes and the image


def test_every_kubernetes_resource_uses_the_explicit_provider(graph: Graph) -> None:
    provider = graph.of_type("pulumi:providers:kubernetes")
    assert len(provider) == 1 and provider[0].name == "cluster-k8s"
    k8s_resources = graph.kubernetes()
    assert len(k8s_resources) > 20
    assert all(r.provider_urn == provider[0].urn for r in k8s_resources)


def test_image_is_built_from_the_dockerfile_and_deployed_by_digest(graph: Graph) -> None:
    image = graph.of_type("docker:index/image:Image")[0].props
    assert image["build"]["dockerfile"].endswith("app/Dockerfile")
    assert image["build"]["target"] == "runtime"
    assert image["imageName"].split(":")[-1].startswith("ctx-")
    repo = graph.of_type("aws:ecr/repository:Repository")[0].props
    assert repo["imageTagMutability"] == "IMMUTABLE" and repo["imageScanningConfiguration"]["scanOnPush"]
    workloads = [*graph.of_type("kubernetes:apps/v1:Deployment"), *graph.of_type("kubernetes:batch/v1:Job")]
    assert len(workloads) == 5
    for w in workloads:
        for c in w.props["spec"]["template"]["spec"]["containers"]:
            assert "@sha256:" in c["image"], w.name


def test_bootstrap_then_migration_then_rollout(graph: Graph) -> None:
    jobs = {j.name: j for j in graph.of_type("kubernetes:batch/v1:Job")}
    bootstrap, migrate = jobs["service-database-bootstrap"], jobs["service-migrate"]
    assert migrate.props["spec"]["template"]["spec"]["containers"][0]["command"] == ["sensorhub", "migrate"]
    assert bootstrap.props["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python", "/bootstrap/bootstrap.py"]
    assert bootstrap.urn in migrate.dependencies
    deployments = graph.of_type("kubernetes:apps/v1:Deployment")
    assert {d.props["metadata"]["name"] for d in deployments} == {"sensorhub-api", "sensorhub-projector",
                                                                   "sensorhub-maintenance"}
    assert all(migrate.urn in d.dependencies for d in deployments)


def test_workloads_are_hardened(graph: Graph) -> None:
    for d in graph.of_type("kubernetes:apps/v1:Deployment"):
        pod = d.props["spec"]["template"]["spec"]
        container = pod["containers"][0]
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone",
                                                                                  "kubernetes.io/hostname"}
        assert pod["serviceAccountName"] == "sensorhub"


def test_service_routing_scaling_and_budgets(graph: Graph) -> None:
    ingress = graph.of_type("kubernetes:networking.k8s.io/v1:Ingress")[0].props
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert json.loads(ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"]) == [
        {"HTTPS": 443}]
    hpa = graph.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")[0].props["spec"]
    assert hpa["minReplicas"] <= hpa["maxReplicas"]
    assert graph.count("kubernetes:policy/v1:PodDisruptionBudget") == 2
    assert graph.count("kubernetes:monitoring.coreos.com/v1:ServiceMonitor") == 2
    charts = {r.props["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert charts == {"kube-prometheus-stack", "aws-load-balancer-controller", "external-secrets",
                      "aws-for-fluent-bit"}
    dashboards = [c for c in graph.of_type("kubernetes:core/v1:ConfigMap")
                  if c.props["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == 2


def test_config_and_secrets_wiring(graph: Graph) -> None:
    config = next(c for c in graph.of_type("kubernetes:core/v1:ConfigMap")
                  if c.props["metadata"]["name"] == "sensorhub-config").props["data"]
    assert config["SENSORHUB_ENV"] == graph.stack
    assert config["SENSORHUB_AUTO_MIGRATE"] == "false"
    assert config["SENSORHUB_ARCHIVE_URL"].startswith("s3://sensorhub-")
    externals = {e.props["metadata"]["name"]: e.props["spec"]
                 for e in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")}
    template = externals["sensorhub-env"]["target"]["template"]["data"]
    assert "SENSORHUB_DATABASE_URL" not in template  # the service's own role, from sensorhub-database
    assert template["SENSORHUB_REDIS_URL"].startswith("rediss://")
    master_refs = {ref["remoteRef"]["key"] for ref in externals["sensorhub-database-master"]["data"]}
    assert master_refs == {"arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-database-" +
                           graph.of_type(RDS)[0].id.split("-", 1)[1]}
    policies = {p.name: json.loads(p.props["policy"]) for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    readable = next(s for s in policies["service-secrets"]["Statement"] if s["Sid"] == "OwnSecrets")["Resource"]
    assert master_refs <= set(readable)
    assert not any("secretsmanager" in str(s["Action"]) for s in policies["service-workload"]["Statement"])
    for name in ("service-workload", "service-secrets"):  # least privilege: named resources, no wildcard actions
        for statement in policies[name]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources and not any("*" in action for action in statement["Action"])


def test_no_secret_in_clear_in_any_input(graph: Graph) -> None:
    sentinels = secret_sentinels(graph)
    assert len(sentinels) >= 2
    leaks = [
        (r.urn, s)
        for r in graph
        for value in _clear_strings(r.inputs)
        for s in sentinels
        if s in value
    ]
    assert leaks == []
    # ...and they did reach the places that need them, as secrets.
    redis = graph.of_type(REDIS)[0]
    assert "authToken" in redis.inputs and isinstance(redis.inputs["authToken"], dict)


def _clear_strings(value: object) -> list[str]:
    from infra.offline.mocks import clear_strings

    return list(clear_strings(value))


def test_outputs_cover_the_interface(graph: Graph) -> None:
    outputs = graph.outputs
    assert set(outputs) >= {"apiUrl", "clusterName", "kubeconfig", "databaseEndpoint", "redisEndpoint",
                            "archiveBucket", "imageRef"}
    assert outputs["apiUrl"].startswith("https://")
    assert "@sha256:" in outputs["imageRef"]
    assert json.loads(outputs["kubeconfig"])["kind"] == "Config"
