"""Run the policy rules over a recorded graph, exactly as the engine would hand them resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.offline.mocks import Graph, Resource
from infra.policy.components import as_engine_sees_it
from infra.policy.rules import RULES, Rule


@dataclass(frozen=True)
class Violation:
    rule: str
    enforcement: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.enforcement}] {self.rule}: {self.message} ({self.urn or 'stack'})"


def _options(r: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect, ignore_changes=[], delete_before_replace=None, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=r.parent or None,
    )


def _provider(graph: Graph, r: Resource) -> PolicyProviderResource | None:
    if not r.provider_urn:
        return None
    p = next((x for x in graph if x.urn == r.provider_urn), None)
    if p is None:
        return None
    return PolicyProviderResource(resource_type=p.type, props=p.props, urn=p.urn, name=p.name)


def resource_args(graph: Graph, r: Resource) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type=r.type, props=r.props, urn=r.urn, name=r.name,
                                  opts=_options(r), provider=_provider(graph, r))


def stack_args(graph: Graph) -> StackValidationArgs:
    by_urn: dict[str, PolicyResource] = {}
    for r in graph:
        by_urn[r.urn] = PolicyResource(resource_type=r.type, props=r.props, urn=r.urn, name=r.name,
                                       opts=_options(r), provider=_provider(graph, r), parent=None,
                                       dependencies=[], property_dependencies={})
    for r in graph:
        resource = by_urn[r.urn]
        resource.parent = by_urn.get(r.parent)
        resource.dependencies = [by_urn[u] for u in r.dependencies if u in by_urn]
        resource.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn] for key, urns in r.property_dependencies.items()
        }
    return StackValidationArgs(resources=list(by_urn.values()))


def evaluate(graph: Graph, rules: list[Rule] | None = None) -> list[Violation]:
    """Every violation of ``rules`` (default: the whole pack) in the graph, as the real engine would hand it over:
    multi-language components with empty properties, followed by their children."""
    graph = as_engine_sees_it(graph)
    violations: list[Violation] = []
    stack = stack_args(graph)
    for rule in rules if rules is not None else RULES:
        level = rule.enforcement.value if isinstance(rule.enforcement, EnforcementLevel) else str(rule.enforcement)

        def report(message: str, urn: str | None = None, *, _rule: Rule = rule, _default: str = "",
                   _level: str = level) -> None:
            violations.append(Violation(_rule.name, _level, urn or _default, message))

        if rule.kind == "stack":
            rule.check(stack, report)
            continue
        for r in graph:
            args: Any = resource_args(graph, r)
            rule.check(args, lambda message, urn=None, _urn=r.urn, _rule=rule, _level=level:
                       violations.append(Violation(_rule.name, _level, urn or _urn, message)))
    return violations
