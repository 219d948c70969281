"""Secrets from files (SENSORHUB_<NAME>_FILE) and the database URL a deployed environment must name."""

from pathlib import Path

import pytest
from sensorhub.settings import SettingsError, load_settings


def test_a_setting_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql://app:s3cret@db:5432/app\n")
    settings = load_settings({"SENSORHUB_DATABASE_URL_FILE": str(secret)})
    assert settings.database_url == "postgresql://app:s3cret@db:5432/app"  # one trailing newline dropped


def test_an_unreadable_file_is_named_with_the_reason_and_without_its_content(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SettingsError) as info:
        load_settings({"SENSORHUB_BOOTSTRAP_ADMIN_KEY_FILE": str(missing)})
    (problem,) = info.value.problems
    assert problem.startswith("SENSORHUB_BOOTSTRAP_ADMIN_KEY_FILE: cannot read the secret file")
    assert "No such file" in problem


def test_a_value_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("x" * 20)
    with pytest.raises(SettingsError, match="SENSORHUB_BOOTSTRAP_ADMIN_KEY is set too"):
        load_settings(
            {"SENSORHUB_BOOTSTRAP_ADMIN_KEY": "y" * 20, "SENSORHUB_BOOTSTRAP_ADMIN_KEY_FILE": str(tmp_path / "k")}
        )


def test_a_value_from_a_file_is_validated_like_any_other(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("short")
    with pytest.raises(SettingsError) as info:
        load_settings({"SENSORHUB_BOOTSTRAP_ADMIN_KEY_FILE": str(tmp_path / "k")})
    assert "SENSORHUB_BOOTSTRAP_ADMIN_KEY" in str(info.value) and "short" not in str(info.value)


def test_the_environment_path_reads_files_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "port").write_text("9100")
    monkeypatch.setenv("SENSORHUB_PORT_FILE", str(tmp_path / "port"))
    assert load_settings().port == 9100


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_deployed_environment_needs_its_database_url(env: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"SENSORHUB_ENV": env})
    assert info.value.problems == [
        f"SENSORHUB_DATABASE_URL: not set (required when SENSORHUB_ENV={env}; "
        "DATABASE_URL or SENSORHUB_DATABASE_URL_FILE work too)"
    ]
    assert load_settings({"SENSORHUB_ENV": env, "DATABASE_URL": "postgresql://a/b"}).database_url == "postgresql://a/b"


def test_local_and_test_keep_the_make_run_default() -> None:
    assert load_settings({"SENSORHUB_ENV": "local"}).database_url.startswith("postgresql://postgres@127.0.0.1:")
