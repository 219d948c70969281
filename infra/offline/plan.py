"""`make plan STACK=dev` and `make plan-diff FROM=staging TO=prod`.

Both render the graph the program DECLARES for a stack file, run offline under Pulumi mocks
with fake cloud outputs. This is not a cloud diff: `pulumi preview --diff` is the real preview.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import fnmatch

import yaml

from infra.offline.mocks import SECRET_PLACEHOLDER, STACKS, Graph, Resource, redact_secrets, run_stack, secret_sentinels
from infra.settings import SettingsError

REPLACEMENTS_FILE = Path(__file__).resolve().parents[1] / "data" / "replacement-properties.yaml"

BANNER = (
    "NOTE: this is the graph the program declares for {what}, rendered offline under Pulumi mocks\n"
    "      (fake ids and endpoints, no AWS calls). It is NOT a cloud diff: run\n"
    "      `pulumi stack select <stack> && pulumi preview --diff` for the real preview."
)

# The settings worth a glance per type; everything else is still compared by plan-diff.
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "eks:index:Cluster": ("version", "endpointPublicAccess", "publicAccessCidrs", "authenticationMode",
                          "deletionProtection"),
    "eks:index:ManagedNodeGroup": ("instanceTypes", "capacityType", "scalingConfig", "diskSize"),
    "aws:rds/instance:Instance": ("instanceClass", "engineVersion", "allocatedStorage", "multiAz",
                                  "backupRetentionPeriod", "monitoringInterval", "deletionProtection"),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("engine", "engineVersion", "nodeType",
                                                          "numCacheClusters", "multiAzEnabled",
                                                          "snapshotRetentionLimit"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("rules",),
    "aws:efs/fileSystem:FileSystem": ("encrypted", "throughputMode"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "threshold", "alarmActions"),
    "kubernetes:apps/v1:Deployment": ("spec.replicas", "spec.template.spec.containers.0.resources"),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("spec.minReplicas", "spec.maxReplicas"),
    "kubernetes:helm.sh/v3:Release": ("chart", "version"),
    "docker:index/image:Image": ("build.platform", "build.target"),
}


def _get(props: Any, path: str) -> Any:
    value = props
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _short(value: Any, width: int = 70) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def _flags(r: Resource) -> str:
    flags = []
    if r.protect:
        flags.append("protect")
    if r.retain_on_delete:
        flags.append("retain")
    return ",".join(flags)


def _shown(r: Resource, sentinels: list[str]) -> Any:
    """What a report may print of a resource's inputs: secrets redacted, stand-ins masked wherever they hide."""
    text = json.dumps(redact_secrets(r.inputs), sort_keys=True, default=str)
    for sentinel in sentinels:
        text = text.replace(sentinel, SECRET_PLACEHOLDER)
    return json.loads(text)


def _key_settings(r: Resource, sentinels: list[str]) -> str:
    props = _shown(r, sentinels)
    parts = []
    if r.type not in KEY_SETTINGS and isinstance(props, Mapping):  # a glance at the scalar settings
        scalars = [(k, v) for k, v in sorted(props.items()) if isinstance(v, str | int | float | bool)]
        return _short(" ".join(f"{k}={_short(v, 30)}" for k, v in scalars[:4]), 100)
    for path in KEY_SETTINGS.get(r.type, ()):
        value = _get(props, path)
        if value is not None:
            parts.append(f"{path.rsplit('.', 1)[-1] if '.' in path else path}={_short(value, 48)}")
    return " ".join(parts)


def render_plan(graph: Graph) -> str:
    sentinels = secret_sentinels(graph)
    rows = [(r.type, r.name, _flags(r), _key_settings(r, sentinels)) for r in graph]
    widths = [min(60, max(len(row[i]) for row in [("TYPE", "NAME", "FLAGS", ""), *rows])) for i in range(3)]
    lines = [BANNER.format(what=f"stack '{graph.stack}'"), ""]
    header = ("TYPE", "NAME", "FLAGS", "KEY SETTINGS")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header[:3], widths, strict=True)) + "  " + header[3])
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    lines += ["", f"{len(graph.resources)} resources declared for stack '{graph.stack}'."]
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, Mapping | list) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _neutral(value: Any, stack: str) -> dict[str, Any]:
    """Flattened, with the stack name neutralised, so `sensorhub-dev-x` and `sensorhub-prod-x` compare equal."""
    text = json.dumps(value, sort_keys=True, default=str)
    text = text.replace(f"urn:pulumi:{stack}::", "urn:pulumi:<stack>::").replace(f"-{stack}", "-<stack>")
    return _flatten(json.loads(text))


def _comparable(r: Resource, stack: str, sentinels: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what to compare, what to print): secrets take part in the comparison but are never printed."""
    compared, shown = _neutral(r.props, stack), _neutral(_shown(r, sentinels), stack)
    for flags in (compared, shown):
        flags["(protect)"] = r.protect
        flags["(retain_on_delete)"] = r.retain_on_delete
    return compared, shown


def replacement_paths(type_: str) -> list[str]:
    table: dict[str, list[str]] = yaml.safe_load(REPLACEMENTS_FILE.read_text())
    paths = list(table.get(type_) or [])
    if type_.startswith("kubernetes:"):
        paths += table["*kubernetes*"]
    return paths


def forces_replacement(r: Resource, path: str) -> bool:
    """Whether a change at flattened ``path`` replaces ``r`` (provider schema table, or replaceOnChanges)."""
    if path.startswith("("):
        return False
    plain = path.replace("[", ".").replace("]", "")
    patterns = [*replacement_paths(r.type), *r.replace_on_changes]
    return any(fnmatch.fnmatchcase(plain, p) or plain == p.removesuffix(".*") or p == "*" for p in patterns)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def differing(old: Any, new: Any, width: int = 60) -> tuple[str, str]:
    """Both values shortened to ``width`` around where they differ, so the difference is always visible."""
    a, b = _text(old), _text(new)
    if len(a) <= width and len(b) <= width:
        return a, b
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    context = 12

    def window(text: str) -> str:
        lo = max(0, start - context)
        hi = min(len(text), max(len(text) - end + context, lo + width))
        middle = text[lo:hi]
        if len(middle) > width:  # a long differing part: its head, the ellipsis, its tail
            middle = middle[: width // 2] + "…" + middle[-(width // 2) :]
        return ("…" if lo > 0 else "") + middle + ("…" if hi < len(text) else "")

    return window(a), window(b)


def render_diff(old: Graph, new: Graph) -> str:
    lines = [BANNER.format(what=f"stacks '{old.stack}' and '{new.stack}'"), "",
             f"Differences from {old.stack} to {new.stack} ("
             "'!' marks a difference the provider applies by replacing the resource):"]
    a = {(r.type, r.name): r for r in old}
    b = {(r.type, r.name): r for r in new}
    for key in sorted(set(a) - set(b)):
        lines.append(f"- only in {old.stack}: {key[0]} {key[1]}")
    for key in sorted(set(b) - set(a)):
        lines.append(f"+ only in {new.stack}: {key[0]} {key[1]}")
    changed = replaced = 0
    old_sentinels, new_sentinels = secret_sentinels(old), secret_sentinels(new)
    for key in sorted(set(a) & set(b)):
        (pa, shown_a), (pb, shown_b) = (_comparable(a[key], old.stack, old_sentinels),
                                        _comparable(b[key], new.stack, new_sentinels))
        diffs = [k for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
        if not diffs:
            continue
        changed += 1
        forcing = [k for k in diffs if forces_replacement(b[key], k)]
        replaced += bool(forcing)
        lines.append(f"{'+-' if forcing else '~ '} {key[0]} {key[1]}{' (replace)' if forcing else ''}")
        for k in diffs:
            before, after = differing(shown_a.get(k, shown_a.get(k.split(".")[0])),
                                      shown_b.get(k, shown_b.get(k.split(".")[0])))
            if before == after:  # only a secret (or a stand-in) differs: say so, print neither
                after = f"{after} (secret value differs)"
            lines.append(f"  {'!' if k in forcing else ' '} {k}: {before} -> {after}"
                         f"{'  (forces replacement)' if k in forcing else ''}")
    lines += ["", f"{len(old.resources)} resources in {old.stack}, {len(new.resources)} in {new.stack}; "
                  f"{len(set(a) - set(b))} only in {old.stack}, {len(set(b) - set(a))} only in {new.stack}, "
                  f"{changed} declared differently, {replaced} of them by replacement."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="table of every declared resource of one stack")
    plan.add_argument("stack", choices=STACKS)
    diff = sub.add_parser("diff", help="what differs between two stacks' declared graphs")
    diff.add_argument("old", choices=STACKS)
    diff.add_argument("new", choices=STACKS)
    args = parser.parse_args(argv)
    try:
        if args.command == "plan":
            print(render_plan(run_stack(args.stack)))
        else:
            print(render_diff(run_stack(args.old), run_stack(args.new)))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
