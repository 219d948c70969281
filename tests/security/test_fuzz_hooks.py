"""The fuzz run's hook: creations get a fresh Idempotency-Key per call, other commands keep theirs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from schemathesis.generation.meta import TestPhase

from tests.security.fuzz_hooks import before_call


def _case(operation_id: str, headers: dict[str, str] | None, phase: str = "stateful", mode: str = "positive") -> Any:
    definition = SimpleNamespace(raw={"operationId": operation_id})
    meta = SimpleNamespace(phase=SimpleNamespace(name=TestPhase(phase)), generation=SimpleNamespace(mode=mode))
    return SimpleNamespace(operation=SimpleNamespace(definition=definition), headers=headers, _meta=meta)


def test_a_stateful_creation_gets_a_fresh_key_per_call() -> None:
    keys = set()
    for _ in range(3):
        case = _case("registerDevice", {"Idempotency-Key": "0", "X-Other": "kept"})
        before_call(None, case, {})
        assert case.headers["X-Other"] == "kept"
        keys.add(case.headers["Idempotency-Key"])
    assert len(keys) == 3 and "0" not in keys


def test_other_commands_and_phases_keep_the_generated_key() -> None:
    case = _case("updateDevice", {"idempotency-key": "0"})
    before_call(None, case, {})
    assert case.headers == {"idempotency-key": "0"}
    for phase, mode in (("coverage", "positive"), ("fuzzing", "positive"), ("stateful", "negative")):
        other = _case("registerDevice", {"Idempotency-Key": "0"}, phase, mode)
        before_call(None, other, {})
        assert other.headers == {"Idempotency-Key": "0"}, (phase, mode)
    bare = _case("registerDevice", None)
    before_call(None, bare, {})
    assert bare.headers is None
