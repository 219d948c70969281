"""Defective variants of a recorded graph: the old code's shape, written here so each check can fail on it."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from infra.offline.mocks import Graph, Resource, unwrap_secrets


def changed(graph: Graph, match: Callable[[Resource], bool], change: Callable[[dict[str, Any]], None]) -> Graph:
    """A copy of ``graph`` where ``change`` edited (in place, on a copy) the inputs of each matching resource.
    The edited inputs lose their secret markers: variants are for checks, not for the secrets test."""
    resources = []
    hits = 0
    for r in graph:
        if match(r):
            inputs = copy.deepcopy(unwrap_secrets(dict(r.inputs)))
            change(inputs)
            r = dataclasses.replace(r, inputs=inputs)  # noqa: PLW2901 - the replacement is the point
            hits += 1
        resources.append(r)
    assert hits, "the variant changed nothing: the graph no longer has what it edits"
    return Graph(stack=graph.stack, resources=resources, outputs=graph.outputs)


def without(graph: Graph, match: Callable[[Resource], bool]) -> Graph:
    kept = [r for r in graph if not match(r)]
    assert len(kept) < len(graph.resources), "the variant removed nothing"
    return Graph(stack=graph.stack, resources=kept, outputs=graph.outputs)


def named(type_: str, name: str) -> Callable[[Resource], bool]:
    return lambda r: r.type == type_ and r.name == name


def k8s_named(kind_type: str, name: str) -> Callable[[Resource], bool]:
    return lambda r: r.type == kind_type and (r.inputs.get("metadata") or {}).get("name") == name
