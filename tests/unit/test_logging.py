"""Log lines from libraries (stdlib logging) carry their traceback as text in the JSON line."""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stdout

from sensorhub.observability import configure_logging


def test_a_library_exception_log_carries_its_traceback() -> None:
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            configure_logging("info", "json")  # its handler writes to the stdout of this moment
            try:
                raise ValueError("boom in a library")
            except ValueError:
                logging.getLogger("some.library").exception("Exception in ASGI application")
    finally:
        configure_logging("warning", "json")
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["event"] == "Exception in ASGI application"
    assert line["level"] == "error"
    assert "Traceback (most recent call last)" in line["exception"]
    assert "ValueError: boom in a library" in line["exception"]
