"""The served app freezes its start-up heap out of the cyclic GC; apps built for tests do not."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sensorhub.bootstrap import create_app, create_app_from_env, freeze_heap
from sensorhub.settings import load_settings


def test_the_served_app_freezes_the_heap_after_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORHUB_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setattr("sensorhub.bootstrap.configure_logging", lambda *_: None)  # keep the tests' logging
    served = create_app_from_env()
    assert served.on_startup[-1] is freeze_heap  # after the other hooks: the heap is complete
    assert freeze_heap not in create_app(load_settings()).on_startup


def test_freeze_heap_moves_live_objects_to_the_permanent_generation() -> None:
    # in a child: freezing this test process would keep every later test's garbage cycles alive
    code = "import gc; from sensorhub.bootstrap import freeze_heap; freeze_heap(); print(gc.get_freeze_count())"
    frozen = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert frozen > 10_000  # the modules of the service alone
