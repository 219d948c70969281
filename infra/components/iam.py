"""Small IAM helpers shared by the components: trust policies and IRSA roles."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws


def service_trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def irsa_trust(oidc_provider_arn: pulumi.Input[str], oidc_provider_url: pulumi.Input[str],
               namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy letting one Kubernetes service account (or a ``name-*`` family of them) assume the role."""

    def render(args: list[str]) -> str:
        arn, url = args
        issuer = url.removeprefix("https://")
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        condition: dict[str, dict[str, str]] = {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com"}}
        if "*" in service_account:
            condition["StringLike"] = {f"{issuer}:sub": subject}
        else:
            condition["StringEquals"][f"{issuer}:sub"] = subject
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": condition,
                    }
                ],
            }
        )

    return pulumi.Output.all(oidc_provider_arn, oidc_provider_url).apply(render)


def irsa_role(name: str, *, oidc_provider_arn: pulumi.Input[str], oidc_provider_url: pulumi.Input[str],
              namespace: str, service_account: str, opts: pulumi.ResourceOptions,
              managed_policy_arns: tuple[str, ...] = (), policy: pulumi.Input[str] | None = None) -> aws.iam.Role:
    """A role for one service account, with AWS-managed policies and/or one inline policy."""
    role = aws.iam.Role(
        name,
        assume_role_policy=irsa_trust(oidc_provider_arn, oidc_provider_url, namespace, service_account),
        opts=opts,
    )
    for i, policy_arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(f"{name}-{i}", role=role.name, policy_arn=policy_arn, opts=opts)
    if policy is not None:
        aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=opts)
    return role
