"""Run the real program offline under Pulumi mocks and record the declared graph.

This is what ``make plan``, the policy pack's offline run and the infra tests use. It is the
graph the program *declares* for a stack file, with fake cloud outputs: not a cloud diff
(``pulumi preview --diff`` is the real preview).

Facts this relies on (measured): inputs arrive with camelCase names and numbers as floats;
multi-language components (``pulumi_eks``) register once with ``custom=False`` and create no
children, so their outputs are faked here; resource references are turned off so component
inputs record as URNs instead of being re-hydrated on the mock thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2

from infra.settings import PROJECT

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - the wire key of a secret
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - the wire marker of a secret
STACKS = ("dev", "staging", "prod")
EKS_CLUSTER_SECURITY_GROUP = "sg-0eksclustermock"  # the cluster security group EKS creates (an output)

# Values that stand in for secrets during an offline run. None of them may appear in clear in any input.
MOCK_ECR_PASSWORD = "MOCK-SECRET-ecr-password"  # noqa: S105
MOCK_RANDOM_PREFIX = "MOCK-SECRET-random-"
# What `pulumi config set --secret` would hold on a real staging/prod stack (docs/deploy.md).
DOCUMENTED_SECRETS: dict[str, dict[str, str]] = {
    "dev": {},
    "staging": {"redisAuthToken": "MOCK-SECRET-staging-redis-token-0123456789abcdef"},
    "prod": {
        "redisAuthToken": "MOCK-SECRET-prod-redis-token-0123456789abcdef",
        "bootstrapAdminKey": "MOCK-SECRET-prod-bootstrap-admin-key",
    },
}


@dataclass(frozen=True)
class Resource:
    """One ``RegisterResource`` call as the engine would see it."""

    type: str
    name: str
    urn: str
    id: str
    custom: bool
    inputs: Mapping[str, Any]
    provider: str
    providers: Mapping[str, str]
    parent: str
    protect: bool
    retain_on_delete: bool
    dependencies: tuple[str, ...]
    property_dependencies: Mapping[str, tuple[str, ...]]
    replace_on_changes: tuple[str, ...] = ()

    @property
    def props(self) -> Any:
        """Inputs with secret markers removed (what a policy or a manifest sees)."""
        return unwrap_secrets(self.inputs)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Graph:
    stack: str
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def count(self, type_: str) -> int:
        return len(self.of_type(type_))

    def named(self, type_: str, name: str) -> Resource:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"expected one {type_} named {name!r}, found {len(matches)}")
        return matches[0]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def kubernetes(self) -> list[Resource]:
        """Every Kubernetes object or Helm release (not the provider itself)."""
        return [r for r in self.resources if r.type.startswith("kubernetes:")]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


def unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARK:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - what a report shows instead of a secret


def redact_secrets(value: Any) -> Any:
    """Inputs with every secret replaced by ``[secret]`` (what a report may print)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARK:
            return SECRET_PLACEHOLDER
        return {k: redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def clear_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is not inside a secret."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARK:
            return
        for k, v in value.items():
            yield str(k)
            yield from clear_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from clear_strings(v)
    elif isinstance(value, str):
        yield value


# --------------------------------------------------------------------------- stack files


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def read_stack_config(path: Path) -> dict[str, Any]:
    """The ``config:`` block of a stack file, as YAML values."""
    document = yaml.safe_load(path.read_text()) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path.name}: `config:` must be a mapping")
    return config


def engine_config(config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Turn stack-file values into what the engine hands the program: strings, objects as JSON.

    A ``secure:`` value is ciphertext the CLI would decrypt; offline it stays unknown, so it is refused.
    """
    values: dict[str, str] = {}
    for key, value in config.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and "secure" in value:
            raise ValueError(f"{full_key} is an encrypted value; offline runs take secrets from the harness")
        values[full_key] = json.dumps(value) if isinstance(value, dict | list) else _scalar(value)
    return values, []


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- mocks


def mock_arn(type_: str, resource_id: str, region: str) -> str:
    """The ARN the fake cloud gives a resource of ``type_`` (what its dependents receive)."""
    service = type_.split(":")[1].split("/", maxsplit=1)[0]
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{type_.rsplit(':', 1)[1].lower()}/{resource_id}"



class FakeCloud(pulumi.runtime.Mocks):
    """Plausible outputs for every resource type the program declares, and the invokes it makes."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        rid = f"{name}-{hashlib.sha1(f'{typ}/{name}'.encode()).hexdigest()[:8]}"  # noqa: S324 - not security
        state: dict[str, Any] = {**inputs}
        if typ.startswith("aws:"):
            state.setdefault("name", inputs.get("name") or rid)
            state["arn"] = mock_arn(typ, rid, self.region)
        if typ == "aws:kms/key:Key":
            state["keyId"] = rid
        elif typ == "aws:s3/bucket:Bucket":
            rid = f"{inputs.get('bucketPrefix', name)}mock"
            state["bucket"] = rid
            state["arn"] = f"arn:aws:s3:::{rid}"
        elif typ == "aws:rds/instance:Instance":
            state["address"] = f"{inputs.get('identifier', name)}.abc123.{self.region}.rds.amazonaws.com"
            state["masterUserSecrets"] = [
                {
                    "secretArn": f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:rds!db-{rid}",
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                    "secretStatus": "active",
                }
            ]
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state["primaryEndpointAddress"] = f"master.{inputs.get('replicationGroupId')}.abc123.cache.amazonaws.com"
        elif typ == "aws:ecr/repository:Repository":
            state["registryId"] = ACCOUNT_ID
            state["repositoryUrl"] = f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{inputs.get('name')}"
        elif typ == "docker:index/image:Image":
            repository = str(inputs.get("imageName", name)).rsplit(":", 1)[0]
            digest = hashlib.sha256(str(inputs.get("imageName")).encode()).hexdigest()
            state["repoDigest"] = f"{repository}@sha256:{digest}"
        elif typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"{MOCK_RANDOM_PREFIX}{name}"
        elif typ == "eks:index:Cluster":
            state.update(self._eks_outputs(str(inputs.get("name", name))))
        elif typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {"status": "deployed", "version": inputs.get("version")}
        return rid, state

    def _eks_outputs(self, cluster: str) -> dict[str, Any]:
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/MOCKOIDC0123456789"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": "https://mock.eks.amazonaws.com"}}],
            "contexts": [{"name": "aws", "context": {"cluster": cluster, "user": "aws"}}],
            "current-context": "aws",
            "users": [{"name": "aws", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", cluster]}}}],
        }
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": EKS_CLUSTER_SECURITY_GROUP,
            "nodeSecurityGroupId": "sg-0eksnodesmock",
        }

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        fakes: dict[str, dict[str, Any]] = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "userId": "MOCK",
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": [f"{self.region}{z}" for z in "abc"], "zoneIds": ["az1", "az2", "az3"], "id": self.region,
            },
            "aws:eks/getAddonVersion:getAddonVersion": {
                "addonName": args.args.get("addonName"), "kubernetesVersion": args.args.get("kubernetesVersion"),
                "version": f"v0.0.0-mock-{args.args.get('addonName')}-for-{args.args.get('kubernetesVersion')}",
                "id": str(args.args.get("addonName")),
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "userName": "AWS", "password": MOCK_ECR_PASSWORD, "proxyEndpoint": "https://mock.ecr",
                "authorizationToken": MOCK_ECR_PASSWORD,
            },
        }
        if args.token not in fakes:
            raise NotImplementedError(f"offline run: no fake for invoke {args.token}")
        return fakes[args.token], []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, recording every registration and not advertising resource references."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Resource] = []
        self._lock = threading.Lock()

    def GetDeploymentInfo(self, request: Any) -> Any:  # gRPC method name
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def SupportsFeature(self, request: Any) -> Any:  # gRPC method name
        supported = request.id not in ("outputValues", "resourceReferences")
        return type("SupportsFeatureResponse", (object,), {"hasSupport": supported})

    def RegisterResource(self, request: Any) -> Any:  # gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object, keep_unknowns=True)
        recorded = Resource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            id=response.id,
            custom=bool(request.custom),
            inputs=_plain(inputs),
            provider=request.provider,
            providers=dict(request.providers),
            parent=request.parent,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            dependencies=tuple(request.dependencies),
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            replace_on_changes=tuple(request.replaceOnChanges),
        )
        with self._lock:
            self.recorded.append(recorded)
        return response



def _plain(value: Any) -> Any:
    """Deserialised protobuf values → plain Python (dict/list/str/float/bool/None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | float | int | bool):
        return value
    return str(value)


# --------------------------------------------------------------------------- running


def attempt_program(stack: str, config: Mapping[str, Any],
                    secrets: Mapping[str, str] | None = None) -> tuple[Graph, BaseException | None]:
    """Run ``build(load_settings())`` for ``stack`` with fresh mocks.

    Returns what was declared and the failure, if any (e.g. ``SettingsError`` for a bad stack file).
    """
    from infra.program import build, load_settings  # the program, exactly as __main__ runs it

    values, _ = engine_config(config)
    secret_keys: list[str] = []
    for key, value in (secrets or {}).items():
        values[f"{PROJECT}:{key}"] = value
        secret_keys.append(f"{PROJECT}:{key}")
    region = values.get("aws:region", "eu-west-1")

    pulumi_settings.ROOT.set(None)
    _ensure_event_loop()
    cloud = FakeCloud(region)
    monitor = RecordingMonitor(cloud)
    pulumi.runtime.set_mocks(cloud, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(values, secret_keys)

    failure: list[BaseException] = []
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None] | None:
        try:
            build(load_settings())
        except Exception as exc:  # handed back to the caller with what was declared so far
            failure.append(exc)
            return None
        stack = pulumi_settings.get_root_resource()
        outputs: dict[str, Any] = dict(getattr(stack, "outputs", {}))
        return pulumi.Output.all(**outputs).apply(lambda values: exported.update(_plain(values)))

    program()
    graph = Graph(stack=stack, resources=sorted(monitor.recorded, key=lambda r: r.urn),
                  outputs=exported)
    return graph, (failure[0] if failure else None)


def _ensure_event_loop() -> None:
    """Pulumi's runtime makes futures on the main thread's current event loop. An ``asyncio.run``
    earlier in the same process (a test fixture, a tool) leaves none set, and every resource then
    fails with "There is no current event loop": give the thread a fresh one in that case."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(stack: str, config: Mapping[str, Any], secrets: Mapping[str, str] | None = None) -> Graph:
    """Like :func:`attempt_program`, raising the program's failure."""
    graph, failure = attempt_program(stack, config, secrets)
    if failure is not None:
        raise failure
    return graph


def run_stack(stack: str, root: Path = REPO_ROOT, *, with_documented_secrets: bool = True) -> Graph:
    """Run the program for one of the real stack files."""
    secrets = DOCUMENTED_SECRETS.get(stack, {}) if with_documented_secrets else {}
    return run_program(stack, read_stack_config(stack_file(stack, root)), secrets)


def secret_sentinels(graph: Graph) -> list[str]:
    """Every value that stood in for a secret in this run."""
    sentinels = [MOCK_ECR_PASSWORD, *DOCUMENTED_SECRETS.get(graph.stack, {}).values()]
    sentinels += [f"{MOCK_RANDOM_PREFIX}{r.name}" for r in graph.of_type("random:index/randomPassword:RandomPassword")]
    return sentinels
