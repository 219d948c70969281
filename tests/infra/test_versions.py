"""Class: version pins AWS or a chart repository would refuse, or that time overtakes.

* Kubernetes: the newest version in the recorded EKS calendar, with at least 90 days of standard support left.
* RDS: the engine version is the major only when minor versions upgrade automatically.
* Helm charts: every pinned version is in its repository's recorded index.
"""

from __future__ import annotations

import copy
import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.cluster import support_calendar
from infra.offline.mocks import Graph, read_stack_config, run_program, stack_file
from infra.settings import SettingsError
from tests.infra.conftest import recorded

CHART_INDEX = Path(__file__).resolve().parents[2] / "infra" / "data" / "chart-index.yaml"
MIN_SUPPORT_LEFT = datetime.timedelta(days=90)
RDS = "aws:rds/instance:Instance"


def kubernetes_version_problems(version: str, today: datetime.date) -> list[str]:
    calendar = support_calendar()
    if version not in calendar:
        return [f"{version} is not in the EKS support calendar"]
    problems = []
    newest = max(calendar, key=lambda v: calendar[v]["released"])
    if version != newest:
        problems.append(f"{version} is not the newest EKS version ({newest})")
    left = calendar[version]["end_of_standard_support"] - today
    if left < MIN_SUPPORT_LEFT:
        problems.append(f"{version} has {left.days} days of standard support left (< {MIN_SUPPORT_LEFT.days})")
    return problems


def rds_version_problems(graph: Graph) -> list[str]:
    return [f"{r.name}: engineVersion {r.props['engineVersion']!r} pins a minor while autoMinorVersionUpgrade is on; "
            "after AWS upgrades the minor, the next preview proposes a downgrade RDS refuses"
            for r in graph.of_type(RDS)
            if r.props.get("autoMinorVersionUpgrade") and not re.fullmatch(r"\d+", r.props["engineVersion"])]


def chart_problems(graph: Graph, index: dict[str, Any]) -> list[str]:
    problems = []
    for release in graph.of_type("kubernetes:helm.sh/v3:Release"):
        p = release.props
        repo = index["repositories"].get(p["repositoryOpts"]["repo"])
        published = (repo or {}).get("charts", {}).get(p["chart"], [])
        if p["version"] not in published:
            problems.append(f"{p['chart']} {p['version']} is not in {p['repositoryOpts']['repo']}'s index "
                            f"(recorded {repo and repo['generated']}: {published})")
    return problems


def _index() -> dict[str, Any]:
    return yaml.safe_load(CHART_INDEX.read_text())


def test_kubernetes_version_is_the_newest_with_support_left(graph: Graph) -> None:
    version = graph.of_type("eks:index:Cluster")[0].props["version"]
    assert kubernetes_version_problems(version, datetime.date.today()) == []


def test_the_old_kubernetes_pin_is_caught() -> None:
    """Review row 4: 1.33 left standard support on 2026-07-29."""
    today = datetime.date(2026, 12, 1)
    assert any("not the newest" in p for p in kubernetes_version_problems("1.33", today))
    assert any("-125 days of standard support left" in p for p in kubernetes_version_problems("1.33", today))
    # And 1.35 itself stops passing when its standard support runs short.
    assert kubernetes_version_problems("1.35", datetime.date(2027, 1, 15))


def test_settings_refuse_a_version_out_of_standard_support() -> None:
    config = copy.deepcopy(read_stack_config(stack_file("dev")))
    config["sensorhub:cluster"]["kubernetesVersion"] = "1.33"
    with pytest.raises(SettingsError, match=r"1.33 left EKS standard support on 2026-07-29.*use 1.35"):
        run_program("dev", config)


def test_the_calendar_is_fourteen_months_of_standard_support() -> None:
    for version, dates in support_calendar().items():
        months = (dates["end_of_standard_support"].year - dates["released"].year) * 12 + \
            dates["end_of_standard_support"].month - dates["released"].month
        assert months == 14, version


def test_rds_engine_version_is_the_major_only(graph: Graph) -> None:
    assert rds_version_problems(graph) == []
    rds = graph.of_type(RDS)[0].props
    assert rds["engineVersion"] == "17" and rds["autoMinorVersionUpgrade"] is True
    family = graph.of_type("aws:rds/parameterGroup:ParameterGroup")[0].props["family"]
    assert family == f"postgres{rds['engineVersion']}"


def test_the_old_rds_pin_is_caught() -> None:
    """Review row 9: engine_version = "17.5" with auto minor upgrades."""
    graph = recorded("dev")
    rds = graph.of_type(RDS)[0]
    old = Graph(stack="dev", resources=[type(rds)(**{**rds.__dict__, "inputs": {**rds.inputs,
                                                                                 "engineVersion": "17.5"}})])
    assert rds_version_problems(old)


def test_every_chart_version_is_in_its_recorded_index(graph: Graph) -> None:
    assert chart_problems(graph, _index()) == []
    assert {r.props["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")} <= {
        chart for repo in _index()["repositories"].values() for chart in repo["charts"]}


def test_an_unpublished_chart_version_is_caught() -> None:
    index = _index()
    index["repositories"]["https://prometheus-community.github.io/helm-charts"]["charts"][
        "kube-prometheus-stack"] = ["77.4.0"]
    assert any("kube-prometheus-stack 88.5.3 is not in" in p for p in chart_problems(recorded("dev"), index))


def test_every_recorded_index_says_when_it_was_read() -> None:
    for url, repo in _index()["repositories"].items():
        assert repo["generated"] and repo["checked"] and repo["source"], url


def test_eks_addons_follow_the_kubernetes_version(graph: Graph) -> None:
    """Add-on versions are AWS's default for the cluster's version (resolved by getAddonVersion), not a pin that
    outlives a Kubernetes upgrade."""
    version = graph.of_type("eks:index:Cluster")[0].props["version"]
    for addon in graph.of_type("aws:eks/addon:Addon"):
        assert addon.props["addonVersion"].endswith(f"-for-{version}"), addon.name
