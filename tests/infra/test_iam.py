"""Class: IAM policies grant every call the component is documented to make, with condition keys that exist on
those calls (request tags only on calls that carry them). Mocks accept any policy document; AWS denies the call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.components.charts import LOAD_BALANCER_CONTROLLER
from infra.components.platform_addons import LBC_POLICY_FILE
from infra.offline.checks import condition_key_problems, iam_problems, missing_documented_calls
from infra.offline.mocks import Graph
from tests.infra.conftest import recorded
from tests.infra.variants import changed, named

# What each component is documented to call. The load balancer controller: its own published policy for the
# pinned version (docs/install/iam_policy.json at the app tag), recorded in infra/data.
DOCUMENTED: dict[str, dict[str, Any]] = {
    "addons-lbc": json.loads(LBC_POLICY_FILE.read_text()),
    # aws-for-fluent-bit, cloudwatch_logs output with autoCreateGroup off.
    "addons-fluent-bit": {"Statement": [{"Effect": "Allow", "Action": [
        "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]}]},
    # Alertmanager's SNS receiver publishing to a KMS-encrypted topic.
    "observability-alertmanager": {"Statement": [{"Effect": "Allow", "Action": [
        "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"]}]},
    # External Secrets' AWS Secrets Manager provider (GetSecretValue, DescribeSecret for metadata).
    "service-secrets": {"Statement": [{"Effect": "Allow", "Action": [
        "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"]}]},
}

# The condensed policy of the reviewed code (review row 1), verbatim in what matters: modify/register/delete
# calls conditioned on aws:RequestTag, which those calls never carry.
OLD_LBC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Resource": "*", "Action": ["ec2:Describe*", "elasticloadbalancing:Describe*",
                                                   "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateSecurityGroup"]},
    {"Effect": "Allow", "Resource": "*", "Action": [
        "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:ModifyListener"],
     "Condition": {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}},
]}


def test_recorded_policy_is_the_pinned_versions() -> None:
    assert LBC_POLICY_FILE.name == f"aws-load-balancer-controller-iam-policy-v{LOAD_BALANCER_CONTROLLER.version}.json"
    assert Path(LBC_POLICY_FILE).exists()


def test_every_policy_grants_its_documented_calls_with_real_condition_keys(graph: Graph) -> None:
    routed = graph.stack != "dev"  # Alertmanager publishes to SNS only where alarms are routed
    documented = {k: v for k, v in DOCUMENTED.items() if routed or k != "observability-alertmanager"}
    assert iam_problems(graph, documented) == []


def test_the_old_load_balancer_policy_is_caught() -> None:
    keys = condition_key_problems(OLD_LBC_POLICY, "lbc")
    for call in ("DeleteLoadBalancer", "ModifyTargetGroup", "RegisterTargets", "ModifyListener"):
        assert any(f"elasticloadbalancing:{call} carries no request tags" in p for p in keys), keys
    assert not any("CreateLoadBalancer carries" in p for p in keys)  # creates do carry request tags
    missing = missing_documented_calls(OLD_LBC_POLICY, DOCUMENTED["addons-lbc"], "lbc")
    assert any("elasticloadbalancing:RegisterTargets is granted only under conditions" in p for p in missing)
    assert any("elasticloadbalancing:SetRulePriorities is not granted" in p for p in missing)

    def old(inputs: dict[str, Any]) -> None:
        inputs["policy"] = json.dumps(OLD_LBC_POLICY)

    assert iam_problems(changed(recorded("dev"), named("aws:iam/rolePolicy:RolePolicy", "addons-lbc"), old),
                        DOCUMENTED)


@pytest.mark.parametrize("operator", ["Null", "StringEquals"])
def test_absence_of_a_request_tag_is_allowed_on_any_call(operator: str) -> None:
    absent = {"Statement": [{"Effect": "Allow", "Action": ["ec2:DeleteTags"], "Resource": "*",
                             "Condition": {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "true"}}}]}
    assert condition_key_problems(absent, "x") == []
    required = {"Statement": [{"Effect": "Allow", "Action": ["ec2:DeleteSecurityGroup"], "Resource": "*",
                               "Condition": {operator: {"aws:RequestTag/elbv2.k8s.aws/cluster":
                                                        "false" if operator == "Null" else "sensorhub"}}}]}
    assert condition_key_problems(required, "x") == [
        "x: ec2:DeleteSecurityGroup carries no request tags, so a condition requiring aws:RequestTag denies it"]


# AWS-managed add-ons are documented to run with these AWS-managed policies (EKS user guide, add-on pages).
ADDON_POLICIES = {
    "aws-ebs-csi-driver": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    "aws-efs-csi-driver": "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy",
}


def test_addon_roles_carry_their_documented_managed_policy(graph: Graph) -> None:
    attached = {(a.props["role"], a.props["policyArn"])
                for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    for addon in graph.of_type("aws:eks/addon:Addon"):
        policy = ADDON_POLICIES.get(addon.props["addonName"])
        if policy is None:
            assert "serviceAccountRoleArn" not in addon.props, addon.name  # metrics-server calls no AWS API
            continue
        role_arn = addon.props["serviceAccountRoleArn"]
        role = next(r for r in graph.of_type("aws:iam/role:Role") if role_arn.endswith(f"/{r.id}"))
        assert (role.id, policy) in attached, addon.name
