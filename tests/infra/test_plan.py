"""`make plan` and `make plan-diff`: every resource listed, and an honest banner."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.offline.mocks import SECRET_MARK, SECRET_SIG, Graph, Resource, secret_sentinels
from infra.offline.plan import differing, forces_replacement, main, render_diff, render_plan
from tests.infra.conftest import recorded


def test_plan_lists_every_resource_with_the_mocks_banner() -> None:
    graph = recorded("dev")
    text = render_plan(graph)
    assert "NOT a cloud diff" in text and "pulumi preview --diff" in text
    for r in graph:
        assert f"{r.name}" in text
    assert f"{len(graph.resources)} resources declared for stack 'dev'" in text
    assert "instanceClass=db.t4g.micro" in text


def test_plan_diff_shows_what_prod_adds_and_changes() -> None:
    text = render_diff(recorded("staging"), recorded("prod"))
    assert "NOT a cloud diff" in text
    assert "+ only in prod: aws:ec2/natGateway:NatGateway network-nat-2" in text
    assert "instanceClass: db.t4g.medium -> db.r7g.large" in text
    assert "(protect): false -> true" in text


def test_plan_cli_rejects_an_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plan", "qa"])
    assert "invalid choice" in capsys.readouterr().err


# ------------------------------------------------------------------ plan-diff: secrets, truncation, replacement



def _secret(value: str) -> dict[str, Any]:
    return {SECRET_SIG: SECRET_MARK, "value": value}


def _one(stack: str, type_: str, inputs: dict[str, Any], replace_on_changes: tuple[str, ...] = ()) -> Graph:
    resource = Resource(type=type_, name="x", urn=f"urn:pulumi:{stack}::sensorhub::{type_}::x", id="x",
                        custom=True, inputs=inputs, provider="", providers={}, parent="", protect=False,
                        retain_on_delete=False, dependencies=(), property_dependencies={},
                        replace_on_changes=replace_on_changes)
    return Graph(stack=stack, resources=[resource])


@pytest.mark.parametrize(("old", "new"), [("dev", "prod"), ("staging", "prod"), ("dev", "staging")])
def test_plan_and_diff_never_print_a_secret_or_a_stand_in(old: str, new: str) -> None:
    a, b = recorded(old), recorded(new)
    text = render_diff(a, b) + render_plan(a) + render_plan(b)
    sentinels = [*secret_sentinels(a), *secret_sentinels(b)]
    assert len(sentinels) >= 3
    assert [s for s in sentinels if s in text] == []
    assert "MOCK-SECRET" not in text


def test_a_differing_secret_is_reported_without_its_value() -> None:
    """The old diff compared unwrapped inputs and printed them: the secret itself, in clear."""
    text = render_diff(_one("dev", "aws:secretsmanager/secretVersion:SecretVersion",
                            {"secretString": _secret("hunter2-one")}),
                       _one("prod", "aws:secretsmanager/secretVersion:SecretVersion",
                            {"secretString": _secret("hunter2-two")}))
    assert "secretString: [secret] -> [secret] (secret value differs)" in text
    assert "hunter2" not in text


def _old_short(value: Any, width: int = 50) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


@pytest.mark.parametrize(("a", "b"), [
    ("x" * 80 + "-staging-tail", "x" * 80 + "-prod-tail"),  # differs at the end
    ("head-a" + "y" * 90, "head-b" + "y" * 90),  # differs at the start
    ("z" * 40 + "A" * 100 + "z" * 40, "z" * 40 + "B" * 100 + "z" * 40),  # a long differing middle
    ('{"Statement": [' + '"s3:GetObject", ' * 8 + '"kms:Decrypt"]}', '{"Statement": [' + '"s3:GetObject", ' * 8 +
     '"kms:Encrypt"]}'),
])
def test_shortened_values_still_show_the_difference(a: str, b: str) -> None:
    before, after = differing(a, b)
    assert before != after and len(before) <= 64 and len(after) <= 64


def test_the_old_truncation_hid_the_difference() -> None:
    a, b = "x" * 80 + "-staging-tail", "x" * 80 + "-prod-tail"
    assert _old_short(a) == _old_short(b)  # the reviewed plan-diff printed "xxx… -> xxx…"
    before, after = differing(a, b)
    assert before.startswith("…") and before.endswith("x-staging-tail") and after.endswith("x-prod-tail")


def test_the_diff_says_which_differences_replace() -> None:
    text = render_diff(recorded("staging"), recorded("prod"))
    assert "+- aws:ec2/vpc:Vpc network (replace)" in text
    assert "! cidrBlock: 10.20.0.0/16 -> 10.30.0.0/16  (forces replacement)" in text
    assert "~  aws:cloudwatch/metricAlarm:MetricAlarm observability-rds-cpu" in text  # thresholds update in place
    assert "+- kubernetes:batch/v1:Job service-migrate (replace)" in text  # replaceOnChanges: ["*"]
    assert "by replacement." in text


def test_replacement_comes_from_the_schema_table_and_replace_on_changes() -> None:
    vpc = _one("dev", "aws:ec2/vpc:Vpc", {}).resources[0]
    assert forces_replacement(vpc, "cidrBlock") and not forces_replacement(vpc, "tags.owner")
    pod = _one("dev", "kubernetes:core/v1:ConfigMap", {}).resources[0]
    assert forces_replacement(pod, "metadata.name") and not forces_replacement(pod, "data.KEY")
    job = _one("dev", "kubernetes:custom/v1:Thing", {}, replace_on_changes=("*",)).resources[0]
    assert forces_replacement(job, "spec.anything")
    repo = _one("dev", "aws:ecr/repository:Repository", {}).resources[0]
    assert forces_replacement(repo, "encryptionConfigurations[0].encryptionType")
