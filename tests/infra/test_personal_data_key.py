"""Personal data in AWS: a KMS key of its own wraps the subjects' data keys; the service's pods are
told its ARN (``SENSORHUB_KMS_KEY_ID``) and may Encrypt/Decrypt/GenerateDataKey with exactly that key."""

from __future__ import annotations

import json
from typing import Any

from infra.offline.mocks import Graph


def _personal_statement(graph: Graph) -> dict[str, Any]:
    [policy] = [r for r in graph.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "service-workload"]
    [statement] = [s for s in json.loads(policy.props["policy"])["Statement"] if s.get("Sid") == "PersonalDataKey"]
    return statement


def test_the_pods_may_wrap_and_unwrap_with_the_personal_data_key_only(graph: Graph) -> None:
    [policy] = [r for r in graph.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "service-workload"]
    statements = json.loads(policy.props["policy"])["Statement"]
    [personal] = [s for s in statements if s.get("Sid") == "PersonalDataKey"]
    assert personal["Effect"] == "Allow"
    assert sorted(personal["Action"]) == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert personal["Resource"].startswith("arn:aws:kms:") and "keys-personal" in personal["Resource"]
    # no other statement grants kms:Encrypt, and none grants it on "*"
    others = [s for s in statements if s is not personal]
    assert not any("kms:Encrypt" in s["Action"] for s in others)
    key = graph.named("aws:kms/key:Key", "keys-personal")  # its own key, rotated, with an alias
    assert key.props["enableKeyRotation"] is True
    assert graph.named("aws:kms/alias:Alias", "keys-personal").props["name"].endswith("-personal")


def test_the_service_is_configured_with_that_key(graph: Graph) -> None:
    [config] = [r for r in graph.of_type("kubernetes:core/v1:ConfigMap") if r.name == "service-config"]
    assert config.props["data"]["SENSORHUB_KMS_KEY_ID"] == _personal_statement(graph)["Resource"]
