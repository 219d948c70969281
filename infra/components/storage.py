"""Archive storage (S3) and shared file storage (EFS), encrypted and TLS-only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.archive_catalog import RESULTS_PREFIX, ArchiveCatalogArgs, declare_archive_catalog
from infra.stack_config import Section

NFS_PORT = 2049
# S3 refuses a lifecycle rule whose Glacier transition comes less than 30 days after its Standard-IA one
# (objects must stay 30 days in Standard-IA), and Standard-IA itself only from day 30.
MIN_DAYS_IN_IA = 30
# The archive's cold tier: the coldest class Athena still queries and a GET reads without a restore.
ARCHIVE_COLD_CLASS = "GLACIER_IR"
# Classes whose objects Athena skips or fails on and a GET refuses until RestoreObject: never for the archive.
UNQUERYABLE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Athena refuses a per-query bytes-scanned cutoff below 10 MB.
MIN_BYTES_SCANNED_CUTOFF = 10_000_000


@dataclass(frozen=True)
class StorageSettings:
    archive_ia_after_days: int
    archive_glacier_after_days: int
    archive_expire_after_days: int
    athena_bytes_scanned_cutoff: int
    athena_results_expire_after_days: int

    @classmethod
    def read(cls, section: Section) -> StorageSettings:
        settings = cls(
            archive_ia_after_days=section.integer("archiveInfrequentAccessAfterDays", 30, 3650),
            archive_glacier_after_days=section.integer("archiveGlacierAfterDays", 31, 3650),
            archive_expire_after_days=section.integer("archiveExpireAfterDays", 32, 36500),
            athena_bytes_scanned_cutoff=section.integer(
                "athenaBytesScannedCutoffPerQuery", MIN_BYTES_SCANNED_CUTOFF, 2**63 - 1
            ),
            athena_results_expire_after_days=section.integer("athenaResultsExpireAfterDays", 1, 365),
        )
        section.done()
        ia, glacier, expire = (settings.archive_ia_after_days, settings.archive_glacier_after_days,
                               settings.archive_expire_after_days)
        if glacier < ia + MIN_DAYS_IN_IA:
            section.fail(f"must be at least archiveInfrequentAccessAfterDays + {MIN_DAYS_IN_IA} = "
                         f"{ia + MIN_DAYS_IN_IA} (S3 keeps objects 30 days in Standard-IA before Glacier), "
                         f"got {glacier}", "archiveGlacierAfterDays")
        if expire <= glacier:
            section.fail(f"must be after archiveGlacierAfterDays ({glacier}), got {expire}", "archiveExpireAfterDays")
        return settings


@dataclass(frozen=True)
class StorageArgs:
    prefix: str
    settings: StorageSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Output[str]]
    node_security_group_id: pulumi.Input[str]
    storage_key_arn: pulumi.Input[str]
    protected: bool


class Storage(pulumi.ComponentResource):
    """The archive bucket with its Glue table and Athena workgroup, and an EFS file system (the ``efs``
    StorageClass provisions on it)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:storage:Storage", name, None, opts)
        self._bucket(name, args)
        declare_archive_catalog(name, ArchiveCatalogArgs(
            prefix=args.prefix, bucket=self.bucket.bucket, key_arn=args.storage_key_arn,
            expire_after_days=args.settings.archive_expire_after_days,
            bytes_scanned_cutoff=args.settings.athena_bytes_scanned_cutoff, protected=args.protected,
        ), parent=self)
        self._efs(name, args)
        self.register_outputs(
            {
                "archiveBucket": self.bucket.bucket,
                "archiveBucketArn": self.bucket.arn,
                "fileSystemId": self.file_system.id,
            }
        )

    def _bucket(self, name: str, args: StorageArgs) -> None:
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-archive",
            bucket_prefix=f"{args.prefix}-archive-",
            force_destroy=not args.protected,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected, retain_on_delete=args.protected),
        )
        bucket_id = self.bucket.id
        aws.s3.BucketPublicAccessBlock(
            f"{name}-archive",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-archive",
            bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-archive",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.storage_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-archive",
            bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-archive",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="archive-tiering",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=s.archive_ia_after_days, storage_class="STANDARD_IA"
                        ),
                        # Glacier *Instant* Retrieval: Athena reads it and a plain GET works, so archived
                        # days stay queryable and restorable. Flexible Retrieval (GLACIER) or Deep Archive
                        # would make them invisible to Athena and fail `sensorhub archive restore` until
                        # each object is restored with RestoreObject (docs/archive.md).
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=s.archive_glacier_after_days, storage_class=ARCHIVE_COLD_CLASS
                        ),
                    ],
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=s.archive_expire_after_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=30
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                ),
                # Athena's query results: kept for re-download a few days, never tiered (expiry comes first).
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="athena-results-expiry",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=RESULTS_PREFIX),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=s.athena_results_expire_after_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=1
                    ),
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-archive",
            bucket=bucket_id,
            policy=self.bucket.arn.apply(_deny_insecure_transport),
            opts=child,
        )

    def _efs(self, name: str, args: StorageArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.file_system = aws.efs.FileSystem(
            f"{name}-files",
            encrypted=True,
            kms_key_id=args.storage_key_arn,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            lifecycle_policies=[aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia="AFTER_30_DAYS")],
            tags={"Name": f"{args.prefix}-files"},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected),
        )
        aws.efs.BackupPolicy(
            f"{name}-files",
            file_system_id=self.file_system.id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(status="ENABLED"),
            opts=child,
        )
        aws.efs.FileSystemPolicy(
            f"{name}-files",
            file_system_id=self.file_system.id,
            policy=self.file_system.arn.apply(_efs_tls_only),
            opts=child,
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-efs",
            description="NFS from the EKS nodes only",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="NFS from EKS nodes", protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT,
                    security_groups=[args.node_security_group_id],
                )
            ],
            egress=[],
            opts=child,
        )
        for i, subnet_id in enumerate(args.private_subnet_ids):
            aws.efs.MountTarget(
                f"{name}-files-{i}",
                file_system_id=self.file_system.id,
                subnet_id=subnet_id,
                security_groups=[sg.id],
                opts=child,
            )


def _deny_insecure_transport(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def _efs_tls_only(file_system_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "*",
                    "Resource": file_system_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
