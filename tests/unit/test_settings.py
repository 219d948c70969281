import pytest
from sensorhub.settings import Settings, SettingsError, load_settings


def test_defaults_are_valid() -> None:
    settings = load_settings({})
    assert settings.port == 8000
    assert settings.redis_url is None


def test_each_bad_variable_is_named_with_the_expected_form() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            {
                "SENSORHUB_PORT": "eighty",
                "SENSORHUB_DATABASE_URL": "mysql://db/x",
                "SENSORHUB_LOG_FORMAT": "xml",
                "SENSORHUB_REDIS_URL": "http://cache",
            }
        )
    text = str(info.value)
    assert "SENSORHUB_PORT" in text and "integer" in text
    assert "SENSORHUB_DATABASE_URL" in text and "postgresql://" in text
    assert "SENSORHUB_LOG_FORMAT" in text and "'json' or 'console'" in text
    assert "SENSORHUB_REDIS_URL" in text and "redis://" in text
    assert len(info.value.problems) == 4


def test_short_bootstrap_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"SENSORHUB_BOOTSTRAP_ADMIN_KEY": "short-secret"})
    assert "SENSORHUB_BOOTSTRAP_ADMIN_KEY" in str(info.value)
    assert "short-secret" not in str(info.value)


def test_plain_database_and_redis_urls_are_accepted_and_prefixed_ones_win() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://a/b", "REDIS_URL": "redis://r:6379/0"})
    assert (settings.database_url, settings.redis_url) == ("postgresql://a/b", "redis://r:6379/0")
    both = load_settings({"DATABASE_URL": "postgresql://a/b", "SENSORHUB_DATABASE_URL": "postgresql://c/d"})
    assert both.database_url == "postgresql://c/d"


def test_out_of_range_port() -> None:
    with pytest.raises(SettingsError, match="SENSORHUB_PORT"):
        load_settings({"SENSORHUB_PORT": "70000"})


def test_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORHUB_PORT", "9001")
    assert load_settings().port == 9001
    monkeypatch.setenv("SENSORHUB_PORT", "no")
    with pytest.raises(SettingsError, match="SENSORHUB_PORT"):
        load_settings()
    assert Settings.model_fields["port"].description


def test_compression_choices_and_their_days() -> None:
    assert load_settings({}).compression == "auto"
    for choice in ("auto", "native", "packed", "off"):
        env = {"SENSORHUB_COMPRESSION": choice, "SENSORHUB_COMPRESS_AFTER_DAYS": "7"}
        assert load_settings(env).compression == choice
    assert load_settings({"SENSORHUB_COMPRESSION": "off"}).compression == "off"
    with pytest.raises(SettingsError) as info:
        load_settings({"SENSORHUB_COMPRESSION": "columnstore"})
    assert "SENSORHUB_COMPRESSION" in str(info.value) and "'native'" in str(info.value)
    # Asking for a method while the days say "off" is a contradiction, named as such.
    for choice in ("native", "packed"):
        with pytest.raises(SettingsError) as info:
            load_settings({"SENSORHUB_COMPRESSION": choice})
        assert info.value.problems == [
            f"SENSORHUB_COMPRESSION: `{choice}` asks for compression but SENSORHUB_COMPRESS_AFTER_DAYS is 0 (off): "
            f"set the days (e.g. 7), or use `auto` or `off` (got '{choice}')"
        ]
