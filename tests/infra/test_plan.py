"""`make plan` and `make plan-diff`: every resource listed, and an honest banner."""

from __future__ import annotations

import pytest

from infra.offline.plan import main, render_diff, render_plan
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
