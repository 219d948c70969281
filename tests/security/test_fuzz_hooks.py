"""The fuzz run's hook: creations get a fresh Idempotency-Key per call, other commands keep theirs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.security.fuzz_hooks import before_call


def _case(operation_id: str, headers: dict[str, str] | None) -> Any:
    definition = SimpleNamespace(raw={"operationId": operation_id})
    return SimpleNamespace(operation=SimpleNamespace(definition=definition), headers=headers)


def test_a_creation_gets_a_fresh_key_per_call() -> None:
    keys = set()
    for _ in range(3):
        case = _case("registerDevice", {"Idempotency-Key": "0", "X-Other": "kept"})
        before_call(None, case, {})
        assert case.headers["X-Other"] == "kept"
        keys.add(case.headers["Idempotency-Key"])
    assert len(keys) == 3 and "0" not in keys


def test_other_commands_keep_the_generated_key() -> None:
    case = _case("updateDevice", {"idempotency-key": "0"})
    before_call(None, case, {})
    assert case.headers == {"idempotency-key": "0"}
    bare = _case("registerDevice", None)
    before_call(None, bare, {})
    assert bare.headers is None
