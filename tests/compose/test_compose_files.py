"""The compose files: the Compose specification's JSON schema, then the rules the schema cannot express."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import AliasChoices
from sensorhub.settings import Settings, env_name, load_settings

from tests.compose.support import (
    BASE,
    COMPOSE,
    COMPOSE_FILES,
    OVERRIDE,
    env_example,
    interpolate,
    is_sensorhub,
    load,
    run,
    services,
    tool,
    variables_used,
)

# Services with no health check, and why. Nothing may wait for them to be healthy.
NO_HEALTHCHECK = {
    "migrate": "one-shot: exits after applying migrations; dependents wait for service_completed_successfully",
    "simulator": "a client process with no port to probe; nothing depends on it",
}
WAIT_CONDITIONS = {"service_healthy", "service_completed_successfully"}


def test_compose_files_match_the_compose_specification_schema() -> None:
    # check-jsonschema vendors the compose-spec's own JSON schema (`vendor.compose-spec`).
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *map(str, COMPOSE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in services().items():
        if name in NO_HEALTHCHECK:
            assert "healthcheck" not in service or service["healthcheck"].get("disable"), name
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"service {name!r} has no health check"
        assert check.get("interval") and check.get("retries"), f"{name}: set interval and retries explicitly"


def test_every_dependency_waits_for_health_or_successful_completion() -> None:
    all_services = services()
    for name, service in all_services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition for each dependency"
        for target, spec in depends_on.items():
            assert target in all_services, f"{name} depends on unknown service {target!r}"
            condition = spec.get("condition")
            assert condition in WAIT_CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            dependency = all_services[target]
            if condition == "service_healthy":
                assert "healthcheck" in dependency, f"{name} waits for {target} to be healthy; it has no health check"
            else:
                assert dependency.get("restart") == "no", f"{target} is waited on to complete: make it one-shot"
            # A service outside every profile cannot depend on one inside a profile.
            if not service.get("profiles"):
                assert not dependency.get("profiles"), f"{name} depends on {target}, which is behind a profile"


def test_api_and_projector_start_only_after_migrations_completed() -> None:
    for name in ("api", "projector", "maintenance"):
        assert services()[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services()["migrate"]["command"] == ["migrate"]


def test_host_ports_are_loopback_only_and_few() -> None:
    published: dict[str, list[str]] = {}
    for path in COMPOSE_FILES:
        for name, service in services(path).items():
            for port in service.get("ports", []):
                if isinstance(port, dict):
                    assert port.get("host_ip") == "127.0.0.1", f"{path.name}: {name} publishes {port}"
                    continue
                assert str(port).startswith("127.0.0.1:"), f"{path.name}: {name} publishes {port!r} beyond loopback"
                published.setdefault(path.name, []).append(name)
    # Production-like base: the developer reaches the API through nginx, plus Grafana and Prometheus
    # (and the tools, behind their profile). Databases and workers are not published there.
    assert sorted(published[BASE.name]) == ["grafana", "nginx", "pgadmin", "prometheus", "redis-commander"]
    assert sorted(published[OVERRIDE.name]) == ["api", "timescaledb"]


def test_every_service_has_resource_limits() -> None:
    for name, service in services().items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"service {name!r} has no cpu/memory limits"


def test_development_tools_and_simulator_sit_behind_profiles() -> None:
    profiles = {name: s.get("profiles", []) for name, s in services().items()}
    assert profiles["pgadmin"] == profiles["redis-commander"] == ["tools"]
    assert profiles["simulator"] == ["simulator"]


def test_data_lives_in_named_volumes() -> None:
    volumes = load(BASE)["volumes"]
    mounts = services()["timescaledb"]["volumes"]
    assert "timescaledb-data:/var/lib/postgresql/data" in mounts and "timescaledb-data" in volumes
    for mount in mounts:
        # The image's own TimescaleDB init scripts must not be hidden by a directory mount.
        assert not str(mount).endswith(":/docker-entrypoint-initdb.d") and ":/docker-entrypoint-initdb.d:" not in mount
    for path in COMPOSE.glob("initdb/*"):
        assert any(str(m).startswith(f"./initdb/{path.name}:") for m in mounts), f"{path.name} is not mounted"


def _settings_env_names() -> dict[str, str]:
    """Every environment variable the settings model reads -> its field."""
    names: dict[str, str] = {}
    for field, info in Settings.model_fields.items():
        names[env_name(field)] = field
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update({str(choice): field for choice in alias.choices})
        elif isinstance(alias, str):
            names[alias] = field
    return names


def test_every_sensorhub_environment_variable_is_a_setting() -> None:
    known = _settings_env_names()
    for path in COMPOSE_FILES:
        for name, service in services(path).items():
            environment = service.get("environment", {})
            assert isinstance(environment, dict), f"{path.name}: {name}: use the mapping form of environment"
            if not (is_sensorhub(service) or is_sensorhub(services(BASE).get(name, {}))):
                continue
            unknown = sorted(set(environment) - set(known))
            assert not unknown, (
                f"{path.name}: service {name!r} sets {unknown}, which sensorhub.settings.Settings does not read "
                f"(renamed or removed setting?). Known: {sorted(known)}"
            )


def test_sensorhub_environment_values_are_valid_settings() -> None:
    env = env_example()
    for name, service in services(BASE).items():
        if not is_sensorhub(service):
            continue
        environ = {k: interpolate(str(v), env) for k, v in service.get("environment", {}).items()}
        override = services(OVERRIDE).get(name, {}).get("environment", {})
        environ.update({k: interpolate(str(v), env) for k, v in override.items()})
        settings = load_settings(environ)  # raises SettingsError naming each bad variable
        if name in ("api", "projector", "maintenance", "migrate"):
            assert settings.database_url.startswith("postgresql://sensorhub:")
            assert settings.host == "0.0.0.0"  # reachable from the other containers
            assert settings.auto_migrate is False


def test_dockerfile_env_names_are_settings() -> None:
    from tests.compose.support import dockerfile_stages

    known = _settings_env_names()
    for stage, lines in dockerfile_stages().items():
        for line in lines:
            if line.upper().startswith("ENV "):
                for key in re.findall(r"(SENSORHUB_[A-Z0-9_]+)=", line):
                    assert key in known, f"app/Dockerfile stage {stage} sets {key}, not a setting"


def test_every_required_variable_is_in_env_example() -> None:
    example = env_example()
    for path in COMPOSE_FILES:
        for variable, op in variables_used(path.read_text()).items():
            if op in (None, ":?", "?"):
                assert variable in example, f"{path.name} needs ${{{variable}}}; add it to compose/.env.example"
    key = example["SENSORHUB_BOOTSTRAP_ADMIN_KEY"]
    assert len(key) >= 16, "the example admin key must pass the service's own check (16+ characters)"


def test_env_file_is_ignored_and_example_is_not() -> None:
    ignored = run("git", "check-ignore", "-q", "compose/.env", cwd=COMPOSE.parent)
    assert ignored.returncode == 0, "compose/.env must be git-ignored"
    example = run("git", "check-ignore", "-q", "compose/.env.example", cwd=COMPOSE.parent)
    assert example.returncode == 1, "compose/.env.example must be committed"


@pytest.mark.parametrize("name", ["initdb/010-sensorhub.sh"])
def test_init_scripts_parse(name: str) -> None:
    result = run("bash", "-n", str(COMPOSE / name))
    assert result.returncode == 0, result.stderr


def _commands() -> dict[str, Any]:
    from sensorhub.cli import main

    return dict(main.commands)


@pytest.mark.parametrize("service", ["migrate", "api", "projector", "maintenance", "simulator"])
def test_service_commands_exist_in_the_cli(service: str) -> None:
    # The image's ENTRYPOINT is `sensorhub`, so `command` starts with the subcommand.
    command = services()[service]["command"]
    commands = _commands()
    assert command[0] in commands, f"{service}: `sensorhub {command[0]}` does not exist ({sorted(commands)})"
    options = {opt for param in commands[command[0]].params for opt in getattr(param, "opts", [])}
    for arg in command[1:]:
        if arg.startswith("--"):
            assert arg in options, f"{service}: `sensorhub {command[0]}` has no option {arg}"
