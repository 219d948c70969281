"""The production image, run as Kubernetes runs it: `make image` builds sensorhub:local, then this suite.

Every sensorhub container here runs with the security context that infra/service.py declares for the
Deployments and the migration Job (tests/compose/containers.py derives the flags from the rendered pod
spec), on a private Docker network with the locally built TimescaleDB (Apache) image as its database.
"""

from __future__ import annotations

import os
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.compose.containers import (
    docker,
    eventually,
    health,
    http_ok,
    logs,
    published_port,
    security_args,
    workloads,
)

IMAGE = os.environ.get("SENSORHUB_IMAGE", "sensorhub:local")
DB_IMAGE = os.environ.get("SENSORHUB_DB_IMAGE", "sensorhub-local/timescaledb:pg17")
ROOT = Path(__file__).resolve().parents[3]
RUN = uuid.uuid4().hex[:8]
NET = f"sensorhub-image-{RUN}"
ADMIN_KEY = f"shk_image_test_{RUN}_0123456789"
APP_PASSWORD = f"app-{RUN}"
DSN = f"postgresql://sensorhub:{APP_PASSWORD}@db-{RUN}:5432/sensorhub"
BUILD_CA = ROOT / ".local" / "docker" / "build-ca.pem"
MIGRATE_OUTPUT: list[str] = []
DB_START_DELAY_S = 4.0  # well inside migrate's --db-wait


def name(role: str) -> str:
    return f"sensorhub-image-{role}-{RUN}"


def run_sensorhub(*command: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = (),
                  detach: bool = False, timeout: float = 180) -> tuple[int, str]:
    """`docker run` the image with the Deployment's security context; (exit status, output) or (0, id)."""
    env_args = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    mode = ["-d"] if detach else ["--rm"]
    result = docker("run", *mode, "--network", NET, *security_args(), *env_args, *extra, IMAGE, *command,
                    check=False, timeout=timeout)
    return result.returncode, (result.stdout.strip() if detach else result.stdout + result.stderr)


KEEP = bool(os.environ.get("SENSORHUB_KEEP_CONTAINERS"))  # for debugging: leave them for `docker logs`


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    docker("image", "inspect", IMAGE)  # `make image` builds it; a missing image fails here, clearly
    docker("network", "create", NET)
    yield NET
    if not KEEP:
        docker("network", "rm", NET, check=False)


@pytest.fixture(scope="module")
def stack(network: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Database, then migrate (started while the database is still initialising), API, projector,
    maintenance. Yields the host ports of the API and the workers."""
    docker("image", "inspect", DB_IMAGE)
    started: list[str] = []
    try:
        db = f"db-{RUN}"
        docker("create", "--name", db, "--network", NET,
               "-e", "POSTGRES_PASSWORD=postgres-" + RUN, "-e", f"APP_DB_PASSWORD={APP_PASSWORD}",
               "-e", "GRAFANA_DB_PASSWORD=grafana-" + RUN,
               "-v", f"{ROOT}/compose/initdb/010-sensorhub.sh:/docker-entrypoint-initdb.d/010-sensorhub.sh:ro",
               DB_IMAGE)
        started.append(db)
        # Migrate starts first and the database a few seconds later (however fast it initialises): the
        # service itself must wait and retry.
        threading.Timer(DB_START_DELAY_S, docker, ("start", db)).start()
        status, output = run_sensorhub("migrate", env={"SENSORHUB_DATABASE_URL": DSN, "SENSORHUB_ENV": "dev"})
        assert status == 0, f"migrate failed ({status}):\n{output}\n--- db ---\n{logs(db)}"
        assert "migrations at head" in output, output
        MIGRATE_OUTPUT.append(output)

        # The API reads its database URL from a mounted secret file, as from a Kubernetes Secret volume.
        secrets = tmp_path_factory.mktemp("secrets")
        secrets.chmod(0o755)  # pytest makes it 0700; the container's user must reach the file
        (secrets / "database_url").write_text(DSN + "\n")
        (secrets / "database_url").chmod(0o644)
        common = {"SENSORHUB_ENV": "dev", "SENSORHUB_AUTO_MIGRATE": "false"}
        api = name("api")
        status, _ = run_sensorhub(
            "serve", detach=True,
            env={**common, "SENSORHUB_DATABASE_URL_FILE": "/run/secrets/database_url",
                 "SENSORHUB_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY},
            extra=("--name", api, "-p", "127.0.0.1::8000", "-v", f"{secrets}:/run/secrets:ro"))
        assert status == 0, api
        started.append(api)
        ports = {"api": published_port(api, 8000)}
        for role in ("projector", "maintenance"):
            container = name(role)
            # Workers serve /health/live on 8001: their probe, as in compose and Kubernetes (not the image's).
            status, _ = run_sensorhub(role, detach=True, env={**common, "SENSORHUB_DATABASE_URL": DSN},
                                      extra=("--name", container, "-p", "127.0.0.1::8001", "--no-healthcheck"))
            assert status == 0, container
            started.append(container)
            ports[role] = published_port(container, 8001)
        yield ports
    finally:
        for container in reversed(started):
            if not KEEP:
                docker("rm", "-f", "-v", container, check=False)


def _ready(stack: dict[str, int], role: str, path: str) -> httpx.Response:
    url = f"http://127.0.0.1:{stack[role]}{path}"
    try:
        return eventually(http_ok(url), timeout=90, what=f"{role} {path}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- {role} logs ---\n{logs(name(role))}") from None


# ------------------------------------------------------------------ the security context


def test_the_security_context_comes_from_the_pod_spec() -> None:
    components = {w.command[-1] for w in workloads()}
    assert {"serve", "projector", "maintenance", "migrate"} <= components, components
    args = security_args()
    # What infra/service.py declares today; if it changes, the flags follow (this line says what they are).
    assert args[:2] == ["--user", "10001:10001"] and "--read-only" in args, args
    assert args[args.index("--cap-drop") + 1] == "ALL", args
    assert any(a.startswith("/tmp:") for a in args), args  # noqa: S108 - the emptyDir's mount point


def test_containers_run_with_that_context(stack: dict[str, int]) -> None:
    _ready(stack, "api", "/health/live")
    api = name("api")
    assert docker("exec", api, "id", "-u").stdout.strip() == "10001"
    status = docker("exec", api, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "0000000000000000", fields["CapEff"]
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2", "Docker's default seccomp profile (RuntimeDefault) is not applied"
    assert "10001" in fields["Groups"].split()
    write_root = docker("exec", api, "python", "-c", "open('/opt/venv/x', 'w')", check=False)
    assert write_root.returncode != 0 and "Read-only file system" in write_root.stderr, write_root.stderr
    docker("exec", api, "python", "-c", "open('/tmp/scratch', 'w').write('ok')")  # the emptyDir is writable
    inspected = docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}}", api).stdout
    assert inspected.split() == ["true", "[no-new-privileges:true]"], inspected


# ------------------------------------------------------------------ the processes start and work


def test_migrate_waited_for_the_database_then_applied_everything(stack: dict[str, int]) -> None:
    (output,) = MIGRATE_OUTPUT
    assert re.search(r"applied now: [1-9]", output), output
    assert "database not reachable yet; retrying" in output, "migrate was expected to start before the database"


def test_api_projector_and_maintenance_become_ready(stack: dict[str, int]) -> None:
    ready = _ready(stack, "api", "/health/ready").json()
    assert ready.get("status") in ("ok", "ready", "pass", None) or ready, ready
    for role in ("projector", "maintenance"):
        assert _ready(stack, role, "/health/live").status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{stack['projector']}/metrics", timeout=5).text
    assert "sensorhub_" in metrics


def test_a_batch_ingested_through_the_container_reads_back(stack: dict[str, int]) -> None:
    base = f"http://127.0.0.1:{stack['api']}"
    _ready(stack, "api", "/health/ready")
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    device = f"img-{RUN}"
    created = httpx.post(f"{base}/v1/devices", headers=auth, timeout=10, json={
        "device_id": device, "name": f"image test {RUN}", "site": "lab", "kind": "thermometer",
        "metrics": [{"name": "temperature", "unit": "C"}]})
    assert created.status_code == 201, created.text
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    batch = [{"device_id": device, "metric": "temperature", "time": (start + timedelta(seconds=i)).isoformat(),
              "value": 20 + i / 10} for i in range(200)]

    def ingest() -> httpx.Response | None:
        response = httpx.post(f"{base}/v1/readings", headers=auth, json={"readings": batch}, timeout=20)
        assert response.status_code == 200, response.text
        return response if response.json()["accepted"] + response.json()["duplicates"] == len(batch) else None

    eventually(ingest, timeout=30, what="the batch accepted")
    got = httpx.get(f"{base}/v1/devices/{device}/readings", headers=auth, timeout=10, params={
        "metric": "temperature", "from": start.isoformat(), "to": (start + timedelta(minutes=5)).isoformat()})
    assert got.status_code == 200, got.text
    values = [item["value"] for item in got.json()["items"]]
    assert values == [20 + i / 10 for i in range(200)]


def test_the_image_healthcheck_turns_healthy(stack: dict[str, int]) -> None:
    # The image's own HEALTHCHECK (interval 30 s, start period 20 s): its first run decides.
    status = eventually(lambda: health(name("api")) == "healthy" or None, timeout=75, interval=2,
                        what="the API container's health")
    assert status


# ------------------------------------------------------------------ bad configuration fails clearly


@pytest.mark.usefixtures("network")
def test_missing_database_url_fails_at_once_with_its_name() -> None:
    started = time.monotonic()
    status, output = run_sensorhub("migrate", env={"SENSORHUB_ENV": "dev"}, timeout=60)
    assert status == 2, output
    assert "SENSORHUB_DATABASE_URL: not set" in output, output
    assert time.monotonic() - started < 30


@pytest.mark.usefixtures("network")
def test_a_database_that_never_comes_up_is_waited_for_within_the_bound() -> None:
    started = time.monotonic()
    status, output = run_sensorhub(
        "--db-wait", "4", "projector",
        env={"SENSORHUB_ENV": "dev", "SENSORHUB_DATABASE_URL": f"postgresql://u:p@nowhere-{RUN}:5432/x"})
    elapsed = time.monotonic() - started
    assert status == 1, output
    assert f"the database at nowhere-{RUN}:5432/x did not accept a connection within 4 s" in output, output
    assert output.count("retrying") >= 2, output
    assert "u:p@" not in output, "the password leaked into the message"
    assert elapsed < 40, elapsed


@pytest.mark.usefixtures("network")
def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text(DSN)
    secret.chmod(0o600)  # root's; the container runs as 10001
    tmp_path.chmod(0o755)  # so that it is the file's own mode that refuses, not its directory
    status, output = run_sensorhub("migrate", env={"SENSORHUB_DATABASE_URL_FILE": "/run/secrets/database_url"},
                                   extra=("-v", f"{tmp_path}:/run/secrets:ro"))
    assert status == 2, output
    assert "SENSORHUB_DATABASE_URL_FILE: cannot read the secret file '/run/secrets/database_url'" in output, output
    assert "Permission denied" in output and APP_PASSWORD not in output, output


# ------------------------------------------------------------------ what is (not) in the image


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tarfile.TarInfo]:
    container = docker("create", IMAGE).stdout.strip()
    archive = tmp_path_factory.mktemp("export") / "image.tar"
    try:
        docker("export", "-o", str(archive), container, timeout=300)
    finally:
        docker("rm", container, check=False)
    with tarfile.open(archive) as tar:
        members = {m.name.lstrip("./"): m for m in tar.getmembers()}
        bundle = tar.extractfile("etc/ssl/certs/ca-certificates.crt")
        members["__trust_bundle__"] = tarfile.TarInfo((bundle.read() if bundle else b"").decode(errors="replace"))
    archive.unlink()
    return members


def test_no_build_tools_tests_or_caches_in_the_image(image_files: dict[str, tarfile.TarInfo]) -> None:
    names = [n for n in image_files if n != "__trust_bundle__"]
    forbidden = {
        "compilers and build tools": re.compile(r"^usr/(local/)?bin/(gcc|cc|g\+\+|c\+\+|make|cmake|ld|as)(-[\d.]+)?$"),
        "pip / setuptools": re.compile(r"(^|/)(pip|setuptools|wheel)(-[^/]*)?(/|$)|^opt/venv/bin/pip"),
        "the project's tests": re.compile(r"^(opt/venv/lib/python3\.\d+/site-packages/)?tests/|(^|/)conftest\.py$"),
        "package caches": re.compile(
            r"^root/\.cache/.|^var/cache/apt/archives/.+\.deb$|^var/lib/apt/lists/.+_Packages"),
        "bytecode caches in the venv": re.compile(r"^opt/venv/.*__pycache__"),
        "build leftovers": re.compile(r"^(build|src)/|(^|/)(ca\.pem|build-ca\.pem)$"),
    }
    found = {what: [n for n in names if pattern.search(n)][:5] for what, pattern in forbidden.items()}
    assert not any(found.values()), found
    assert "opt/venv/bin/sensorhub" in image_files


def test_the_build_ca_is_not_in_the_image(image_files: dict[str, tarfile.TarInfo]) -> None:
    bundle = image_files["__trust_bundle__"].name
    assert "BEGIN CERTIFICATE" in bundle, "the image has no CA bundle for TLS to AWS"
    extra = BUILD_CA.read_text() if BUILD_CA.exists() else ""
    bodies = re.findall(r"-----BEGIN CERTIFICATE-----\n(.+?)\n-----END CERTIFICATE-----", extra, re.S)
    for body in bodies:
        trusted = body.replace("\n", "")[:200] in bundle.replace("\n", "")
        assert not trusted, "the build's proxy CA is trusted by the image"
