"""docker-compose.local.yml: the same services as docker-compose.yml, only built here instead of pulled.

One compose model: the local file may say where an image comes from (image, build, pull_policy) and
nothing else, except the differences listed in LOCAL_DIFFERENCES, each checked against the base file.
Services that only a registry has sit behind a profile the local stack never enables. The sensorhub
services run with the security context of the Kubernetes Deployments (derived from infra/, not restated).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.compose.support import BASE, COMPOSE, DOCKERFILE, LOCAL, ROOT, is_sensorhub, load, services

# Services that exist only on a registry: kept (statically checked), behind a profile of their own.
REGISTRY_ONLY = {"grafana": "grafana"}
SOURCE_KEYS = {"image", "build", "pull_policy"}
LOCAL_DIFFERENCES = {
    "timescaledb": {"command", "volumes"},  # the Apache build has no `timescaledb.license=timescale`; its own data
}
SCRIPTS = ROOT / "scripts"


def _from_lines(dockerfile: Path) -> list[str]:
    return [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")]


def test_every_service_a_registry_would_give_is_built_locally() -> None:
    base, local = services(BASE), services(LOCAL)
    assert set(local) <= set(base), f"services only in the local file: {set(local) - set(base)}"
    for name, service in base.items():
        if name in REGISTRY_ONLY:
            assert name not in local
            assert service.get("profiles") == [REGISTRY_ONLY[name]], f"{name} must sit behind its own profile"
            continue
        assert name in local, f"{name} ({service.get('image')}) has no local build in {LOCAL.name}"
        assert "build" in local[name], name
        if is_sensorhub(service):
            # app/Dockerfile's context, file and target stay those of docker-compose.yml (what Pulumi builds).
            assert set(local[name]["build"]) <= {"args", "secrets"}, local[name]["build"]
            assert "BASE_IMAGE" in local[name]["build"]["args"]
        else:
            assert str(local[name]["image"]).startswith("sensorhub-local/"), name
            context = COMPOSE / local[name]["build"]["context"]
            assert (context / "Dockerfile").is_file(), context
            assert _from_lines(context / "Dockerfile")[-1] == "${BASE_IMAGE}", f"{name}: FROM the local base"
        assert local[name].get("pull_policy") == "never", f"{name}: nothing is pulled here"


def test_the_local_file_changes_only_where_images_come_from() -> None:
    base, local = services(BASE), services(LOCAL)
    for name, service in local.items():
        extra = set(service) - SOURCE_KEYS - LOCAL_DIFFERENCES.get(name, set())
        assert not extra, f"{LOCAL.name}: {name} overrides {extra}; put it in docker-compose.yml (one model)"
    # The database command is the base one less the licence option (the Apache build would refuse it).
    base_command = base["timescaledb"]["command"]
    licence = base_command.index("timescaledb.license=timescale")
    assert local["timescaledb"]["command"] == base_command[: licence - 1] + base_command[licence + 1 :]
    (data,) = [m for m in local["timescaledb"]["volumes"] if m.endswith(":/var/lib/postgresql/data")]
    assert data.split(":")[0] in load(LOCAL)["volumes"]


def test_registry_only_services_stay_out_of_the_local_run() -> None:
    script = (SCRIPTS / "containers.sh").read_text()
    (profiles,) = re.findall(r"^COMPOSE_PROFILES=(.*)$", script, re.M)
    enabled = set(profiles.split(","))
    assert enabled == {"tools"}, enabled
    assert not enabled & set(REGISTRY_ONLY.values())
    for name, service in services(BASE).items():
        for target in service.get("depends_on", {}):
            assert target not in REGISTRY_ONLY, f"{name} depends on registry-only {target}"


def test_local_bases_are_the_images_scripts_docker_sh_builds() -> None:
    script = (SCRIPTS / "docker.sh").read_text()
    made = set(re.findall(r"^(?:DEBIAN|TRIXIE|PYTHON)_IMAGE=(\S+)$", script, re.M))
    assert len(made) == 3, made
    text = LOCAL.read_text()
    used = set(re.findall(r"BASE_IMAGE: \$\{[A-Z_]+:-([^}]+)\}", text))
    assert used == made, (used, made)
    for dockerfile in COMPOSE.glob("images/*/Dockerfile"):
        (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), re.M)
        assert default in made, f"{dockerfile}: default base {default}"


def test_app_dockerfile_base_is_a_build_argument_defaulting_to_the_upstream_python() -> None:
    text = DOCKERFILE.read_text()
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default), default
    assert {f for f in _from_lines(DOCKERFILE) if f not in ("deps",)} == {"${BASE_IMAGE}"}
    # The proxy CA is a build secret, never a COPY or an ARG (it would then be in a layer or the history).
    assert "--mount=type=secret,id=build-ca" in text
    assert not re.search(r"^(COPY|ADD|ARG|ENV)\b.*\b(ca\.pem|build-ca|ca-certificates/)", text, re.M | re.I)
    # The engine's built-in frontend: a `# syntax=` line would fetch a frontend image from a registry.
    assert not text.startswith("# syntax=")


def test_compose_sensorhub_services_have_the_deployments_security_context() -> None:
    from tests.compose.containers import security_args

    args = security_args()
    tmpfs = [args[i + 1].split(":", 1)[0] for i, a in enumerate(args) if a == "--tmpfs"]
    for name, service in services(BASE).items():
        if not is_sensorhub(service):
            continue
        assert service.get("read_only") is ("--read-only" in args), name
        drop = [args[i + 1] for i, a in enumerate(args) if a == "--cap-drop"]
        assert service.get("cap_drop") == drop, name
        assert ("no-new-privileges:true" in service.get("security_opt", [])) is ("no-new-privileges:true" in args)
        assert [str(t).split(":", 1)[0] for t in service.get("tmpfs", [])] == tmpfs, name
        user = args[args.index("--user") + 1]
        assert service.get("user", user) == user, name
