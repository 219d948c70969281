"""`sensorhub --db-wait N <command>`: a database that is not up is retried within the bound, then named."""

import time

from click.testing import CliRunner
from sensorhub.cli import main


def test_an_unreachable_database_is_retried_then_reported_without_its_password() -> None:
    env = {"SENSORHUB_DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/app", "SENSORHUB_LOG_FORMAT": "json"}
    started = time.monotonic()
    result = CliRunner().invoke(main, ["--db-wait", "2", "migrate"], env=env)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert "the database at 127.0.0.1:1/app did not accept a connection within 2 s" in result.output
    assert "attempts" in result.output and "s3cret" not in result.output
    assert 1.5 < elapsed < 15


def test_the_bound_is_an_option_of_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "--db-wait" in result.output
