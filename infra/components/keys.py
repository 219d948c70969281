"""KMS keys, one per data domain, with automatic rotation."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# "personal": wraps the data keys of personal data in the service's database (crypto-shredding,
# docs/personal-data.md); only the service's pods may use it.
KEY_PURPOSES = ("eks", "rds", "cache", "storage", "logs", "secrets", "personal")


@dataclass(frozen=True)
class KeysArgs:
    prefix: str
    region: str
    account_id: str
    deletion_window_days: int


class Keys(pulumi.ComponentResource):
    """Customer-managed KMS keys for EKS secrets, RDS, Redis, S3/EFS, logs, Secrets Manager and personal data."""

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:keys:Keys", name, None, opts)
        self.keys: dict[str, aws.kms.Key] = {}
        for purpose in KEY_PURPOSES:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"{args.prefix} {purpose} encryption",
                enable_key_rotation=True,
                deletion_window_in_days=args.deletion_window_days,
                policy=_key_policy(args, purpose),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.kms.Alias(
                f"{name}-{purpose}",
                name=f"alias/{args.prefix}-{purpose}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.keys[purpose] = key
        self.register_outputs({f"{p}KeyArn": k.arn for p, k in self.keys.items()})

    def arn(self, purpose: str) -> pulumi.Output[str]:
        return self.keys[purpose].arn


def _key_policy(args: KeysArgs, purpose: str) -> str:
    """Account administration, plus CloudWatch Logs for the logs key (log groups encrypt with it)."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "AccountAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{args.account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if purpose == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogs",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{args.region}:{args.account_id}:*"}
                },
            }
        )
        # CloudWatch alarms publish to the SNS topic, which is encrypted with this key.
        statements.append(
            {
                "Sid": "CloudWatchAlarmsToSns",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
