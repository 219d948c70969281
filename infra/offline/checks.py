"""Checks by class of defect over a recorded graph: what Pulumi's mocks never object to but AWS or Kubernetes
would. Each returns the problems it finds (empty when the graph is sound); tests/infra runs them over every
stack and over a defective variant of each.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from infra.offline.mocks import EKS_CLUSTER_SECURITY_GROUP, Graph, Resource, mock_arn

Problems = list[str]
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE = "aws:iam/role:Role"
POD_TEMPLATES = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
}
# Service accounts AWS-managed add-ons run under, and which of them call AWS APIs (so need the IRSA role).
# EFS: the node daemonset calls AWS too (IAM-authorised mounts), hence AWS's documented `efs-csi-*` trust.
ADDON_SERVICE_ACCOUNTS: dict[str, dict[str, bool]] = {
    "aws-ebs-csi-driver": {"ebs-csi-controller-sa": True, "ebs-csi-node-sa": False},
    "aws-efs-csi-driver": {"efs-csi-controller-sa": True, "efs-csi-node-sa": True},
    "metrics-server": {"metrics-server": False},
}
# StorageClasses a fresh EKS cluster has without anyone creating them: none (1.30+ clusters get no default gp2).
BUILT_IN_STORAGE_CLASSES: frozenset[str] = frozenset()


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k), v
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _pod_specs(graph: Graph) -> Iterator[tuple[Resource, str, Mapping[str, Any]]]:
    for r in graph:
        if r.type in POD_TEMPLATES:
            yield r, r.props["metadata"]["namespace"], _get(r.props, *POD_TEMPLATES[r.type]) or {}


def _trusted_subjects(role: Resource) -> set[str]:
    policy = json.loads(role.props["assumeRolePolicy"])
    subjects: set[str] = set()
    for statement in policy["Statement"]:
        for operator, condition in (statement.get("Condition") or {}).items():
            for key, value in condition.items():
                if key.endswith(":sub"):
                    subjects |= {f"{operator}:{v}" for v in ([value] if isinstance(value, str) else value)}
    return subjects


def _trusts(role: Resource, namespace: str, account: str) -> bool:
    subject = f"system:serviceaccount:{namespace}:{account}"
    for entry in _trusted_subjects(role):
        operator, pattern = entry.split(":", 1)
        if operator == "StringEquals" and pattern == subject:
            return True
        if operator == "StringLike" and pattern.endswith("*") and subject.startswith(pattern[:-1]):
            return True
    return False


# --------------------------------------------------------------------------- references resolve


def declared_service_accounts(graph: Graph) -> dict[tuple[str, str], str | None]:
    """(namespace, name) -> the role ARN it is annotated with, for every service account anything creates."""
    accounts: dict[tuple[str, str], str | None] = {}
    for r in graph.of_type(SERVICE_ACCOUNT):
        meta = r.props["metadata"]
        accounts[(meta["namespace"], meta["name"])] = (meta.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
    for r in graph.of_type("kubernetes:helm.sh/v3:Release"):
        for scope in (r.props["values"], *(v for v in r.props["values"].values() if isinstance(v, Mapping))):
            account = scope.get("serviceAccount") if isinstance(scope, Mapping) else None
            if isinstance(account, Mapping) and account.get("name"):
                annotations = account.get("annotations") or {}
                accounts[(r.props["namespace"], account["name"])] = annotations.get("eks.amazonaws.com/role-arn")
    for addon in graph.of_type("aws:eks/addon:Addon"):
        for account, calls_aws in ADDON_SERVICE_ACCOUNTS.get(addon.props["addonName"], {}).items():
            accounts[("kube-system", account)] = addon.props.get("serviceAccountRoleArn") if calls_aws else None
    return accounts


def unresolved_references(graph: Graph) -> Problems:
    """Storage classes, service accounts and their role trust, secrets and config maps pods read,
    security groups and subnets: every one must be something the graph declares."""
    return [*_storage_classes(graph), *_service_accounts(graph), *_pod_sources(graph), *_network_ids(graph)]


def _storage_classes(graph: Graph) -> Problems:
    declared = {r.props["metadata"]["name"] for r in graph.of_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    declared |= BUILT_IN_STORAGE_CLASSES
    return [f"{r.type} {r.name} asks for StorageClass {value!r}, which nothing creates"
            for r in graph.kubernetes() for key, value in _walk(r.props)
            if key == "storageClassName" and isinstance(value, str) and value not in declared]


def _service_accounts(graph: Graph) -> Problems:
    problems: Problems = []
    accounts = declared_service_accounts(graph)
    roles = {mock_arn(ROLE, r.id, graph_region(graph)): r for r in graph.of_type(ROLE)}
    for r, namespace, spec in _pod_specs(graph):
        account = spec.get("serviceAccountName", "default")
        if (namespace, account) not in accounts:
            problems.append(f"{r.name} runs as service account {namespace}/{account}, which nothing creates")
    for (namespace, account), role_arn in accounts.items():
        if role_arn is None:
            continue
        role = roles.get(role_arn)
        if role is None:
            problems.append(f"service account {namespace}/{account} names role {role_arn}, which nothing declares")
        elif not _trusts(role, namespace, account):
            problems.append(f"role {role.name} does not trust service account {namespace}/{account} that uses it "
                            f"(trusts {sorted(_trusted_subjects(role))})")
    for addon in graph.of_type("aws:eks/addon:Addon"):
        role = roles.get(addon.props.get("serviceAccountRoleArn", ""))
        for account, calls_aws in ADDON_SERVICE_ACCOUNTS.get(addon.props["addonName"], {}).items():
            if calls_aws and (role is None or not _trusts(role, "kube-system", account)):
                problems.append(f"add-on {addon.props['addonName']}: kube-system/{account} calls AWS but "
                                f"{'no role is set' if role is None else f'role {role.name} does not trust it'}")
    for role in graph.of_type(ROLE):
        for entry in _trusted_subjects(role):
            pattern = entry.split(":", 1)[1].removeprefix("system:serviceaccount:")
            namespace, _, account = pattern.partition(":")
            if not any(_trusts(role, ns, name) for ns, name in accounts if ns == namespace):
                problems.append(f"role {role.name} trusts {namespace}/{account}, which no service account matches")
    return problems


def graph_region(graph: Graph) -> str:
    provider = graph.of_type("pulumi:providers:aws")
    return str(provider[0].props.get("region", "eu-west-1")) if provider else "eu-west-1"


def _pod_sources(graph: Graph) -> Problems:
    declared: dict[str, set[tuple[str, str]]] = {"secret": set(), "configMap": set()}
    for r in graph.kubernetes():
        meta = r.props.get("metadata") or {}
        if r.type == "kubernetes:core/v1:Secret":
            declared["secret"].add((meta["namespace"], meta["name"]))
        elif r.type == "kubernetes:core/v1:ConfigMap":
            declared["configMap"].add((meta["namespace"], meta["name"]))
        elif r.type == "kubernetes:external-secrets.io/v1:ExternalSecret":
            target = _get(r.props, "spec", "target", "name") or meta["name"]
            declared["secret"].add((meta["namespace"], target))
    problems: Problems = []
    for r, namespace, spec in _pod_specs(graph):
        refs: list[tuple[str, str]] = []
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for source in container.get("envFrom") or []:
                refs += [("secret", source["secretRef"]["name"])] if "secretRef" in source else []
                refs += [("configMap", source["configMapRef"]["name"])] if "configMapRef" in source else []
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                refs += [("secret", value_from["secretKeyRef"]["name"])] if "secretKeyRef" in value_from else []
                refs += [("configMap", value_from["configMapKeyRef"]["name"])] if "configMapKeyRef" in value_from \
                    else []
        for volume in spec.get("volumes") or []:
            refs += [("secret", volume["secret"]["secretName"])] if "secret" in volume else []
            refs += [("configMap", volume["configMap"]["name"])] if "configMap" in volume else []
        problems += [f"{r.name} reads {kind} {namespace}/{name}, which nothing creates"
                     for kind, name in refs if (namespace, name) not in declared[kind]]
    return problems


NETWORK_KEYS = {
    "subnetId": "aws:ec2/subnet:Subnet", "subnetIds": "aws:ec2/subnet:Subnet",
    "securityGroups": "aws:ec2/securityGroup:SecurityGroup",
    "securityGroupIds": "aws:ec2/securityGroup:SecurityGroup",
    "vpcSecurityGroupIds": "aws:ec2/securityGroup:SecurityGroup",
    "dbSubnetGroupName": "aws:rds/subnetGroup:SubnetGroup",
    "subnetGroupName": "aws:elasticache/subnetGroup:SubnetGroup",
}


def _network_ids(graph: Graph) -> Problems:
    declared = {type_: {r.id for r in graph.of_type(type_)} for type_ in set(NETWORK_KEYS.values())}
    if graph.of_type("eks:index:Cluster"):
        declared["aws:ec2/securityGroup:SecurityGroup"].add(EKS_CLUSTER_SECURITY_GROUP)
    problems: Problems = []
    for r in graph:
        if not (r.type.startswith("aws:") or r.type.startswith("eks:")):
            continue
        for key, value in _walk(r.props):
            if key in NETWORK_KEYS and r.type != NETWORK_KEYS[key]:
                for ref in [value] if isinstance(value, str) else value or []:
                    if ref not in declared[NETWORK_KEYS[key]]:
                        problems.append(f"{r.type} {r.name}.{key} refers to {ref!r}, which nothing declares")
    return problems


# --------------------------------------------------------------------------- deploy reachability


def deploy_reachability(graph: Graph, deployer_cidrs: list[str]) -> Problems:
    """A `pulumi up` run from the deploy runners reaches every API the graph applies objects through."""
    if not graph.kubernetes():
        return []
    problems: Problems = []
    for cluster in graph.of_type("eks:index:Cluster"):
        p = cluster.props
        if not p.get("endpointPublicAccess"):
            problems.append(f"{len(graph.kubernetes())} Kubernetes objects are applied through cluster "
                            f"{p.get('name')}, whose endpoint is private-only: `pulumi up` from outside the "
                            "VPC cannot reach it")
            continue
        allowed = [ipaddress.ip_network(c) for c in p.get("publicAccessCidrs") or ["0.0.0.0/0"]]
        for runner in deployer_cidrs:
            if not any(ipaddress.ip_network(runner).subnet_of(a) for a in allowed):  # type: ignore[arg-type]
                problems.append(f"deploy runner {runner} is not in cluster {p.get('name')}'s endpoint allow-list")
    return problems


# --------------------------------------------------------------------------- IAM: documented calls, real keys

DATA = Path(__file__).resolve().parents[1] / "data"


def request_tag_actions() -> frozenset[str]:
    return frozenset(yaml.safe_load((DATA / "iam-request-tag-actions.yaml").read_text())["actions"])


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _conditions(statement: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    return {(operator, key, json.dumps(value, sort_keys=True))
            for operator, block in (statement.get("Condition") or {}).items() for key, value in block.items()}


def _requires_request_tag(statement: Mapping[str, Any]) -> bool:
    for operator, key, value in _conditions(statement):
        requires = operator != "Null" or json.loads(value) in ("false", False)
        if (key.startswith("aws:RequestTag/") or key == "aws:TagKeys") and requires:
            return True
    return False


def condition_key_problems(document: Mapping[str, Any], where: str) -> Problems:
    """A statement that requires a request tag may only list calls that carry request tags."""
    carrying = request_tag_actions()
    return [f"{where}: {action} carries no request tags, so a condition requiring aws:RequestTag denies it"
            for statement in _statements(document) if statement.get("Effect") == "Allow"
            and _requires_request_tag(statement)
            for action in _listed(statement.get("Action")) if action not in carrying]


def _matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def missing_documented_calls(document: Mapping[str, Any], documented: Mapping[str, Any], where: str) -> Problems:
    """Every call the component's documented policy allows is allowed here, under no extra condition."""
    problems: Problems = []
    ours = [s for s in _statements(document) if s.get("Effect") == "Allow"]
    for reference in _statements(documented):
        if reference.get("Effect") != "Allow":
            continue
        for action in _listed(reference.get("Action")):
            grants = [s for s in ours if any(_matches(p, action) for p in _listed(s.get("Action")))]
            if not grants:
                problems.append(f"{where}: {action} is not granted (the component's documented policy grants it)")
            elif not any(_conditions(s) <= _conditions(reference) for s in grants):
                problems.append(f"{where}: {action} is granted only under conditions the documented policy does "
                                f"not impose: {sorted(_conditions(grants[0]) - _conditions(reference))}")
    return problems


def iam_problems(graph: Graph, documented: Mapping[str, Mapping[str, Any]]) -> Problems:
    """Every inline policy: condition keys that exist on the calls; named roles: their documented calls."""
    problems: Problems = []
    for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        document = json.loads(policy.props["policy"])
        problems += condition_key_problems(document, policy.name)
        if policy.name in documented:
            problems += missing_documented_calls(document, documented[policy.name], policy.name)
    missing = set(documented) - {p.name for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    problems += [f"{name}: no such role policy in the graph" for name in sorted(missing)]
    return problems


# --------------------------------------------------------------------------- things that run without effect


def log_groups_without_writer(graph: Graph) -> Problems:
    """Each log group is written by an AWS service configured to, or by a role allowed logs:PutLogEvents on it."""
    written: set[str] = set()
    region = graph_region(graph)
    for r in graph:
        p = r.props
        if r.type == "aws:ec2/flowLog:FlowLog":
            written.add(p.get("logDestination", ""))
        elif r.type == "aws:elasticache/replicationGroup:ReplicationGroup":
            written |= {c.get("destination", "") for c in p.get("logDeliveryConfigurations") or []}
        elif r.type == "aws:rds/instance:Instance":
            written |= {f"/aws/rds/instance/{p.get('identifier')}/{log}"
                        for log in p.get("enabledCloudwatchLogsExports") or []}
        elif r.type == "eks:index:Cluster" and p.get("enabledClusterLogTypes"):
            written.add(f"/aws/eks/{p.get('name')}/cluster")
        elif r.type == "aws:iam/rolePolicy:RolePolicy":
            for statement in _statements(json.loads(p["policy"])):
                if any(_matches(a, "logs:PutLogEvents") for a in _listed(statement.get("Action"))):
                    written |= {res.removesuffix(":*") for res in _listed(statement.get("Resource"))}
    return [f"log group {g.props.get('name')} ({g.name}): nothing writes to it"
            for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
            if g.props.get("name") not in written and mock_arn(g.type, g.id, region) not in written]


def scaling_problems(graph: Graph) -> Problems:
    """An HPA needs its metrics source; the Deployment it scales must not declare replicas under server-side apply."""
    problems: Problems = []
    deployments = {(d.props["metadata"]["namespace"], d.props["metadata"]["name"]): d
                   for d in graph.of_type("kubernetes:apps/v1:Deployment")}
    metrics_server = any(a.props.get("addonName") == "metrics-server" for a in graph.of_type("aws:eks/addon:Addon")) \
        or any(r.props.get("chart") == "metrics-server" for r in graph.of_type("kubernetes:helm.sh/v3:Release"))
    ssa = all(p.props.get("enableServerSideApply", True) not in (False, "false")
              for p in graph.of_type("pulumi:providers:kubernetes"))
    for hpa in graph.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler"):
        spec = hpa.props["spec"]
        if any(m.get("type") == "Resource" for m in spec.get("metrics") or []) and not metrics_server:
            problems.append(f"HPA {hpa.props['metadata']['name']} scales on resource metrics, but nothing installs "
                            "metrics-server: it never scales")
        target = deployments.get((hpa.props["metadata"]["namespace"], spec["scaleTargetRef"]["name"]))
        if target is None:
            problems.append(f"HPA {hpa.props['metadata']['name']} targets a Deployment nothing declares")
        elif ssa and target.props["spec"].get("replicas") is not None:
            problems.append(f"Deployment {spec['scaleTargetRef']['name']} declares spec.replicas while HPA "
                            f"{hpa.props['metadata']['name']} scales it: the next release conflicts with the HPA's "
                            "field manager")
    return problems


def master_credential_readers(graph: Graph, master_secret_arn: str) -> Problems:
    """Only the database bootstrap Job may read the RDS master secret; the service never runs as the master user."""
    carriers = {(r.props["metadata"]["namespace"],
                 _get(r.props, "spec", "target", "name") or r.props["metadata"]["name"])
                for r in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
                if any(_get(ref, "remoteRef", "key") == master_secret_arn
                       for ref in _get(r.props, "spec", "data") or [])}
    problems: Problems = []
    for r, namespace, spec in _pod_specs(graph):
        reads = {(namespace, name) for _, name in _secret_names(spec)}
        if reads & carriers and "database-bootstrap" not in r.name:
            problems.append(f"{r.name} reads the RDS master credentials ({sorted(reads & carriers)}): they rotate "
                            "every 7 days under running pods, and the service must not run as the master user")
    return problems


def _secret_names(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for container in spec.get("containers") or []:
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                yield "envFrom", source["secretRef"]["name"]
        for env in container.get("env") or []:
            ref = _get(env, "valueFrom", "secretKeyRef")
            if ref:
                yield "env", ref["name"]


# ----------------------------------------------------------------------------- Glue projection and Athena workgroup
# Glue stores any table parameters; Athena reads the projection ones at query time and fails the query on a
# value it cannot parse. These are the forms Athena documents (partition-projection-supported-types).
GLUE_TABLE = "aws:glue/catalogTable:CatalogTable"
ATHENA_WORKGROUP = "aws:athena/workgroup:Workgroup"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
# Storage classes Athena skips (Flexible Retrieval) or fails on (Deep Archive), and whose objects a GET
# refuses until RestoreObject: data moved there is no longer queryable nor restorable by the service.
ATHENA_UNREADABLE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
PROJECTION_TYPES = {"enum", "integer", "date", "injected"}
PROJECTION_KEYS = {
    "enum": {"type", "values"},
    "integer": {"type", "range", "interval", "digits"},
    "date": {"type", "format", "range", "interval", "interval.unit"},
    "injected": {"type"},
}
INTERVAL_UNITS = {"YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS", "MINUTES", "SECONDS", "MILLIS"}
_RELATIVE_DATE = re.compile(r"^NOW([+-]\d+(YEARS|MONTHS|WEEKS|DAYS|HOURS|MINUTES|SECONDS))?$")
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
ATHENA_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
MIN_BYTES_SCANNED_CUTOFF = 10_000_000
ENCRYPTION_OPTIONS = {"SSE_S3", "SSE_KMS", "CSE_KMS"}


def java_date_format(pattern: str) -> str | None:
    """The strftime form of a Java date pattern made of the fields above and separators, else None."""
    tokens = re.findall(r"[A-Za-z]+|[^A-Za-z]+", pattern)
    out = []
    for token in tokens:
        if token[0].isalpha():
            if token not in _JAVA_TO_STRFTIME:
                return None
            out.append(_JAVA_TO_STRFTIME[token])
        else:
            out.append(token)
    return "".join(out)


def _date_bound(value: str, fmt: str) -> bool:
    if _RELATIVE_DATE.match(value.strip()):
        return True
    try:
        datetime.strptime(value.strip(), fmt)
    except ValueError:
        return False
    return True


def projection_problems(table: Mapping[str, Any], where: str) -> Problems:
    params: Mapping[str, str] = table.get("parameters") or {}
    if params.get("projection.enabled", "").lower() != "true":
        return []
    problems: Problems = []
    keys = [k["name"] for k in table.get("partitionKeys") or []]
    if not ATHENA_NAME.match(table.get("name", "")):
        problems.append(f"{where}: table name {table.get('name')!r} is not lower-case letters, digits, underscores")
    for key in keys:
        kind = params.get(f"projection.{key}.type", "").strip().lower()
        if kind not in PROJECTION_TYPES:
            problems.append(f"{where}: projection.{key}.type {kind!r} is not one of {sorted(PROJECTION_TYPES)}")
            continue
        given = {k.removeprefix(f"projection.{key}.") for k in params if k.startswith(f"projection.{key}.")}
        if extra := sorted(given - PROJECTION_KEYS[kind]):
            problems.append(f"{where}: unknown {kind} projection properties of {key}: {extra}")
        if kind == "integer":
            bounds = params.get(f"projection.{key}.range", "").split(",")
            if len(bounds) != 2 or not all(re.fullmatch(r"\s*-?\d+\s*", b) for b in bounds) \
                    or int(bounds[0]) > int(bounds[1]):
                problems.append(f"{where}: projection.{key}.range must be 'low,high' integers, low <= high")
            for opt in ("interval", "digits"):
                value = params.get(f"projection.{key}.{opt}")
                if value is not None and not (value.strip().isdigit() and int(value) > 0):
                    problems.append(f"{where}: projection.{key}.{opt} must be a positive integer, got {value!r}")
        if kind == "date":
            fmt = java_date_format(params.get(f"projection.{key}.format", ""))
            if fmt is None:
                problems.append(f"{where}: projection.{key}.format is not a date pattern Athena and we both read")
                continue
            bounds = params.get(f"projection.{key}.range", "").split(",")
            if len(bounds) != 2 or not all(_date_bound(b, fmt) for b in bounds):
                problems.append(f"{where}: projection.{key}.range must be two dates in its format or NOW[+-]N<UNIT>")
            unit = params.get(f"projection.{key}.interval.unit")
            if unit is not None and unit.strip() not in INTERVAL_UNITS:
                problems.append(f"{where}: projection.{key}.interval.unit {unit!r} is not one of "
                                f"{sorted(INTERVAL_UNITS)}")
    unknown = {k.split(".")[1] for k in params if k.startswith("projection.") and k != "projection.enabled"} - set(keys)
    if unknown:
        problems.append(f"{where}: projection properties for columns that are not partition keys: {sorted(unknown)}")
    template = params.get("storage.location.template", "")
    if template:
        placeholders = re.findall(r"\$\{([^}]*)\}", template)
        if not template.startswith("s3://") or sorted(placeholders) != sorted(keys):
            problems.append(f"{where}: storage.location.template must be an s3:// URL naming every partition key "
                            f"once as ${{key}}, got {template!r}")
        location = (table.get("storageDescriptor") or {}).get("location", "")
        if not template.startswith(location):
            problems.append(f"{where}: storage.location.template is not under the table location {location!r}")
    return problems


def workgroup_problems(workgroup: Mapping[str, Any], where: str) -> Problems:
    config = workgroup.get("configuration") or {}
    result = config.get("resultConfiguration") or {}
    encryption = result.get("encryptionConfiguration") or {}
    problems: Problems = []
    if not re.fullmatch(r"[a-zA-Z0-9._-]{1,128}", workgroup.get("name", "")):
        problems.append(f"{where}: workgroup name must be 1-128 of letters, digits, '.', '_' and '-'")
    cutoff = config.get("bytesScannedCutoffPerQuery")
    if cutoff is None or cutoff < MIN_BYTES_SCANNED_CUTOFF:
        problems.append(f"{where}: bytesScannedCutoffPerQuery must be at least {MIN_BYTES_SCANNED_CUTOFF}, "
                        f"got {cutoff}")
    if config.get("enforceWorkgroupConfiguration") is not True:
        problems.append(f"{where}: enforceWorkgroupConfiguration is off: a client can write unencrypted results")
    output = result.get("outputLocation", "")
    if not (output.startswith("s3://") and output.endswith("/")):
        problems.append(f"{where}: outputLocation must be an s3:// prefix ending in '/', got {output!r}")
    option = encryption.get("encryptionOption")
    if option not in ENCRYPTION_OPTIONS:
        problems.append(f"{where}: encryptionOption {option!r} is not one of {sorted(ENCRYPTION_OPTIONS)}")
    elif option.endswith("KMS") != bool(encryption.get("kmsKeyArn")):
        problems.append(f"{where}: kmsKeyArn goes with {option} exactly when it is a KMS option")
    return problems


def lifecycle_problems(lifecycle: Mapping[str, Any], name: str, table: Mapping[str, Any], table_name: str) -> Problems:
    """An enabled lifecycle rule that moves a table's objects to a class Athena cannot read."""
    location = str(table.get("storageDescriptor", {}).get("location", ""))
    key = location.removeprefix("s3://").partition("/")[2]
    problems: Problems = []
    for rule in lifecycle.get("rules") or []:
        prefix = str((rule.get("filter") or {}).get("prefix") or rule.get("prefix") or "")
        if rule.get("status") != "Enabled" or not (key.startswith(prefix) or prefix.startswith(key)):
            continue
        for transition in rule.get("transitions") or []:
            if transition.get("storageClass") in ATHENA_UNREADABLE_CLASSES:
                problems.append(
                    f"{name}: rule {rule.get('id')} moves {table_name}'s objects to {transition['storageClass']} after "
                    f"{transition.get('days')} days: Athena cannot read that class (use GLACIER_IR)"
                )
    return problems


def archive_query_problems(graph: Graph) -> Problems:
    """What Athena would refuse in the Glue tables' projection and the workgroups, and results kept
    inside a table's location (Athena would read them back as data)."""
    problems: Problems = []
    tables = graph.of_type(GLUE_TABLE)
    for table in tables:
        problems += projection_problems(table.props, table.name)
    for lifecycle in graph.of_type(S3_LIFECYCLE):
        for table in tables:
            problems += lifecycle_problems(lifecycle.props, lifecycle.name, table.props, table.name)
    for group in graph.of_type(ATHENA_WORKGROUP):
        problems += workgroup_problems(group.props, group.name)
        output = group.props.get("configuration", {}).get("resultConfiguration", {}).get("outputLocation", "")
        for table in tables:
            location = table.props.get("storageDescriptor", {}).get("location", "")
            if output and location and (output.startswith(location) or location.startswith(output)):
                problems.append(f"{group.name}: query results at {output} overlap table {table.name} at {location}")
    return problems
