"""The Glue table and Athena workgroup over the Parquet archive the service writes to the archive bucket
(``docs/archive.md``): history past raw retention, queryable with Athena without loading it back.

The layout is restated from ``app/sensorhub/timeseries/archive_format.py`` (``infra/`` imports nothing from
``app/``); ``tests/infra/test_archive_catalog.py`` compares the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# SENSORHUB_ARCHIVE_URL is s3://<bucket>/<ARCHIVE_PREFIX> (components/service.py).
ARCHIVE_PREFIX = "archive"
# Keys below it: readings/day=2026-11-30/group=0007/part-00000.parquet (and readings/day=…/_manifest.json).
READINGS_ROOT = "readings"
LOCATION_TEMPLATE = "readings/day=${day}/group=${group}/"
DAY_FORMAT = "yyyy-MM-dd"  # Java DateTimeFormatter pattern, as Athena reads it
GROUP_DIGITS = 4
DEVICE_GROUPS = 16  # SENSORHUB_ARCHIVE_DEVICE_GROUPS, the service's default (not overridden in the ConfigMap)
COLUMNS = (("device_id", "string"), ("metric", "string"), ("time", "timestamp"), ("value", "double"))
# `day` is a string partition key projected as a date: the form AWS documents for date projection.
PARTITION_KEYS = (("day", "string"), ("group", "int"))
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
RESULTS_PREFIX = "athena-results/"
ENGINE_VERSION = "Athena engine version 3"


@dataclass(frozen=True)
class ArchiveCatalogArgs:
    prefix: str
    bucket: pulumi.Output[str]
    key_arn: pulumi.Input[str]
    expire_after_days: int  # the archive's lifecycle: no object is older, so no day to project before it
    bytes_scanned_cutoff: int
    protected: bool


def glue_name(prefix: str) -> str:
    """Athena needs lower-case names of letters, digits and underscores (a hyphen breaks unquoted SQL)."""
    return prefix.lower().replace("-", "_") + "_archive"


def projection_parameters(bucket: str, expire_after_days: int) -> dict[str, str]:
    # Days are written when retention drops them, so the oldest object holds a day a little older than its
    # own age: project one year more than the lifecycle keeps.
    years = math.ceil(expire_after_days / 365) + 1
    return {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.day.type": "date",
        "projection.day.format": DAY_FORMAT,
        "projection.day.range": f"NOW-{years}YEARS,NOW",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "projection.group.type": "integer",
        "projection.group.range": f"0,{DEVICE_GROUPS - 1}",
        "projection.group.digits": str(GROUP_DIGITS),
        "storage.location.template": f"s3://{bucket}/{ARCHIVE_PREFIX}/{LOCATION_TEMPLATE}",
    }


def declare_archive_catalog(name: str, args: ArchiveCatalogArgs, parent: pulumi.Resource) -> None:
    """Glue database + table (partition projection: no crawler, no partitions to add) and an Athena
    workgroup whose results are SSE-KMS encrypted under the archive bucket's key, settings enforced."""
    child = pulumi.ResourceOptions(parent=parent)
    database = aws.glue.CatalogDatabase(
        f"{name}-archive",
        name=glue_name(args.prefix),
        description="sensorhub raw readings past retention (Parquet archive, docs/archive.md)",
        opts=child,
    )
    aws.glue.CatalogTable(
        f"{name}-archive-readings",
        database_name=database.name,
        name="readings",
        table_type="EXTERNAL_TABLE",
        description="One row per reading; partitions projected from the key layout, never crawled",
        parameters=args.bucket.apply(lambda b: projection_parameters(b, args.expire_after_days)),
        partition_keys=[aws.glue.CatalogTablePartitionKeyArgs(name=n, type=t) for n, t in PARTITION_KEYS],
        storage_descriptor=aws.glue.CatalogTableStorageDescriptorArgs(
            location=pulumi.Output.concat("s3://", args.bucket, f"/{ARCHIVE_PREFIX}/{READINGS_ROOT}/"),
            input_format=PARQUET_INPUT,
            output_format=PARQUET_OUTPUT,
            ser_de_info=aws.glue.CatalogTableStorageDescriptorSerDeInfoArgs(
                name="parquet", serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
            ),
            columns=[aws.glue.CatalogTableStorageDescriptorColumnArgs(name=n, type=t) for n, t in COLUMNS],
        ),
        opts=child,
    )
    aws.athena.Workgroup(
        f"{name}-archive",
        name=f"{args.prefix}-archive",
        description="Queries over the sensorhub archive: results encrypted with the storage key, limits enforced",
        state="ENABLED",
        force_destroy=not args.protected,
        configuration=aws.athena.WorkgroupConfigurationArgs(
            enforce_workgroup_configuration=True,  # clients cannot turn off the encryption or the cutoff
            publish_cloudwatch_metrics_enabled=True,
            bytes_scanned_cutoff_per_query=args.bytes_scanned_cutoff,
            engine_version=aws.athena.WorkgroupConfigurationEngineVersionArgs(
                selected_engine_version=ENGINE_VERSION
            ),
            result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                output_location=pulumi.Output.concat("s3://", args.bucket, f"/{RESULTS_PREFIX}"),
                encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                    encryption_option="SSE_KMS", kms_key_arn=args.key_arn
                ),
            ),
        ),
        opts=child,
    )
