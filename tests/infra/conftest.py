"""Each stack's declared graph, recorded once per session under Pulumi mocks (a second or so per stack)."""

from __future__ import annotations

import pytest

from infra.offline.mocks import STACKS, Graph, run_stack

_graphs: dict[str, Graph] = {}


def recorded(stack: str) -> Graph:
    if stack not in _graphs:
        _graphs[stack] = run_stack(stack)
    return _graphs[stack]


@pytest.fixture(params=STACKS)
def graph(request: pytest.FixtureRequest) -> Graph:
    return recorded(request.param)
