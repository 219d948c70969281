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
    """Trust policy letting exactly one Kubernetes service account assume the role (IRSA)."""

    def render(args: list[str]) -> str:
        arn, url = args
        issuer = url.removeprefix("https://")
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                f"{issuer}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(oidc_provider_arn, oidc_provider_url).apply(render)


def irsa_role(name: str, *, oidc_provider_arn: pulumi.Input[str], oidc_provider_url: pulumi.Input[str],
              namespace: str, service_account: str, managed_policy_arns: list[str],
              opts: pulumi.ResourceOptions) -> aws.iam.Role:
    role = aws.iam.Role(
        name,
        assume_role_policy=irsa_trust(oidc_provider_arn, oidc_provider_url, namespace, service_account),
        opts=opts,
    )
    for i, policy_arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(f"{name}-{i}", role=role.name, policy_arn=policy_arn, opts=opts)
    return role
