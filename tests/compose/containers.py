"""What the suites that run containers share: the Docker CLI, waiting, and the Kubernetes security context.

The security context is read from the Pulumi program itself: ``infra.offline.mocks.run_stack`` renders the
stack's declared graph under mocks (as ``make plan`` and ``make checkov`` do), and the pod spec of every
sensorhub workload there is turned into ``docker run`` flags. A field this module does not know how to
honour fails the suite: the container must run with exactly what the Deployment declares.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import httpx

DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
T = TypeVar("T")
K8S_WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")


def docker(*args: str, check: bool = True, timeout: float = 120, input_text: str | None = None,
           ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False,
                            input=input_text)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def eventually(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than None/False, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except (httpx.HTTPError, OSError, AssertionError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s (last error: {last!r})")


def http_ok(url: str, **kwargs: Any) -> Callable[[], httpx.Response | None]:
    def probe() -> httpx.Response | None:
        response = httpx.get(url, timeout=5, **kwargs)
        return response if response.status_code == 200 else None

    return probe


def health(container: str) -> str:
    status = docker("inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container)
    return status.stdout.strip()


def logs(container: str) -> str:
    result = docker("logs", "--tail", "80", container, check=False)
    return result.stdout + result.stderr


def published_port(container: str, port: int) -> int:
    out = docker("port", container, f"{port}/tcp").stdout.split()[0]
    return int(out.rsplit(":", 1)[1])


# ------------------------------------------------------------------ the pod spec, from the program


@dataclass(frozen=True)
class Workload:
    name: str  # metadata.name (sensorhub-api, ...)
    command: tuple[str, ...]
    pod: Mapping[str, Any]  # spec.template.spec
    container: Mapping[str, Any]  # its one container


@cache
def workloads(stack: str = "dev") -> tuple[Workload, ...]:
    """The sensorhub Deployments and the migration Job that ``infra`` declares for ``stack``.

    What this depends on in infra/: ``offline.mocks.run_stack(stack)`` returning the recorded graph, whose
    Kubernetes Deployments/Jobs carry their manifests as ``props`` (the same surface ``make checkov`` uses).
    """
    from infra.offline import mocks

    graph = mocks.run_stack(stack)
    found: list[Workload] = []
    for resource in graph.kubernetes():
        if resource.type not in K8S_WORKLOADS:
            continue
        props = resource.props
        pod = props["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        if not str(container.get("image", "")) or "sensorhub" not in json.dumps(container.get("command", [])):
            continue
        name = props.get("metadata", {}).get("name") or resource.name
        found.append(Workload(name, tuple(container["command"]), pod, container))
    assert found, f"no sensorhub Deployment or Job in the {stack} stack's graph"
    return tuple(found)


def _as_int(value: Any) -> int:
    number = float(value)  # the mocks deliver numbers as floats
    assert number.is_integer(), value
    return int(number)


_SIZE_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}


def _bytes(quantity: str) -> int:
    for suffix, factor in sorted(_SIZE_UNITS.items(), key=lambda item: -len(item[0])):
        if quantity.endswith(suffix):
            return int(float(quantity.removesuffix(suffix)) * factor)
    return int(quantity)


def docker_security_args(workload: Workload) -> list[str]:
    """``docker run`` flags for exactly the pod's and container's security context and writable mounts.

    Kubernetes field -> Docker: runAsUser/runAsGroup -> --user; fsGroup -> --group-add;
    readOnlyRootFilesystem -> --read-only; capabilities -> --cap-drop/--cap-add;
    allowPrivilegeEscalation=false -> no-new-privileges; seccomp RuntimeDefault -> Docker's default
    profile (no flag); an emptyDir mount -> a tmpfs of its sizeLimit (writable for every user, as an
    emptyDir with fsGroup is for the pod's group). Anything else is refused.
    """
    pod_ctx = dict(workload.pod.get("securityContext") or {})
    ctx = dict(workload.container.get("securityContext") or {})

    def pick(key: str) -> Any:  # the container's value wins over the pod's
        mine, pods = ctx.pop(key, None), pod_ctx.pop(key, None)
        return mine if mine is not None else pods

    args: list[str] = []
    user, group, non_root = pick("runAsUser"), pick("runAsGroup"), pick("runAsNonRoot")
    assert user is not None, "the pod spec names no runAsUser: the image's USER would decide"
    assert not non_root or _as_int(user) != 0, "runAsNonRoot with runAsUser 0"
    args += ["--user", f"{_as_int(user)}:{_as_int(group if group is not None else user)}"]
    fs_group = pod_ctx.pop("fsGroup", None)
    if fs_group is not None:
        args += ["--group-add", str(_as_int(fs_group))]
    seccomp = pick("seccompProfile")
    assert seccomp in (None, {"type": "RuntimeDefault"}), f"seccompProfile {seccomp} has no Docker equivalent here"
    if ctx.pop("readOnlyRootFilesystem", False):
        args.append("--read-only")
    if ctx.pop("privileged", False):
        args.append("--privileged")
    if ctx.pop("allowPrivilegeEscalation", True) is False:
        args += ["--security-opt", "no-new-privileges:true"]
    caps = ctx.pop("capabilities", None) or {}
    for cap in caps.pop("drop", []):
        args += ["--cap-drop", cap]
    for cap in caps.pop("add", []):
        args += ["--cap-add", cap]
    assert not caps, f"capabilities fields not translated: {caps}"
    assert not pod_ctx, f"pod securityContext fields not translated: {pod_ctx}"
    assert not ctx, f"container securityContext fields not translated: {ctx}"

    volumes = {v["name"]: v for v in workload.pod.get("volumes") or []}
    for mount in workload.container.get("volumeMounts") or []:
        volume = dict(volumes[mount["name"]])
        volume.pop("name")
        empty_dir = volume.pop("emptyDir", None)
        assert empty_dir is not None and not volume, f"volume {mount['name']}: only emptyDir is translated"
        assert set(mount) <= {"name", "mountPath"}, f"mount options not translated: {mount}"
        size = empty_dir.get("sizeLimit")
        options = "rw,exec,nosuid,nodev,mode=1777" + (f",size={_bytes(size)}" if size else "")
        args += ["--tmpfs", f"{mount['mountPath']}:{options}"]
    return args


def security_args() -> list[str]:
    """The one security context all sensorhub workloads share (asserted), as ``docker run`` flags."""
    per_workload = {w.name: docker_security_args(w) for w in workloads()}
    distinct = {json.dumps(args) for args in per_workload.values()}
    assert len(distinct) == 1, f"the workloads declare different security contexts: {per_workload}"
    return next(iter(per_workload.values()))
