"""The Glue table and Athena workgroup over the Parquet archive: what the mocks record, what Athena would
refuse, and that the table reads the layout the service writes (infra/ restates it; this test compares)."""

from __future__ import annotations

import fnmatch
import json
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from sensorhub.settings import Settings
from sensorhub.timeseries import archive_format

from infra.components import archive_catalog as catalog
from infra.components import storage
from infra.offline.checks import (
    ATHENA_UNREADABLE_CLASSES,
    ATHENA_WORKGROUP,
    GLUE_TABLE,
    archive_query_problems,
    java_date_format,
)
from infra.offline.mocks import Graph, read_stack_config, stack_file
from tests.infra.conftest import recorded
from tests.infra.variants import changed

GLUE_DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _one(graph: Graph, type_: str) -> Any:
    (resource,) = graph.of_type(type_)
    return resource


def _storage_config(graph: Graph) -> dict[str, Any]:
    return read_stack_config(stack_file(graph.stack))["sensorhub:storage"]


def test_the_glue_table_reads_the_archive_as_parquet_with_projected_partitions(graph: Graph) -> None:
    database = _one(graph, GLUE_DATABASE).props
    table = _one(graph, GLUE_TABLE)
    props = table.props
    assert database["name"] == f"sensorhub_{graph.stack}_archive"
    assert props["databaseName"] == database["name"] and props["name"] == "readings"
    assert props["tableType"] == "EXTERNAL_TABLE"
    assert props["partitionKeys"] == [{"name": "day", "type": "string"}, {"name": "group", "type": "int"}]
    sd = props["storageDescriptor"]
    assert sd["serDeInfo"]["serializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert sd["inputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["outputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert [(c["name"], c["type"]) for c in sd["columns"]] == [
        ("device_id", "string"), ("metric", "string"), ("time", "timestamp"), ("value", "double")]
    # The service writes below SENSORHUB_ARCHIVE_URL; the table and its template must be exactly there.
    archive_url = next(c for c in graph.of_type(CONFIG_MAP)
                       if c.props["metadata"]["name"] == "sensorhub-config").props["data"]["SENSORHUB_ARCHIVE_URL"]
    assert sd["location"] == f"{archive_url}/readings/"
    params = props["parameters"]
    assert params["storage.location.template"] == f"{archive_url}/readings/day=${{day}}/group=${{group}}/"
    years = -(-_storage_config(graph)["archiveExpireAfterDays"] // 365) + 1
    assert params == {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.day.type": "date",
        "projection.day.format": "yyyy-MM-dd",
        "projection.day.range": f"NOW-{years}YEARS,NOW",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "projection.group.type": "integer",
        "projection.group.range": "0,15",
        "projection.group.digits": "4",
        "storage.location.template": params["storage.location.template"],
    }
    assert table.parent == _one(graph, "sensorhub:storage:Storage").urn  # with the bucket it reads


def test_the_workgroup_encrypts_results_with_the_storage_key_and_enforces_its_limits(graph: Graph) -> None:
    workgroup = _one(graph, ATHENA_WORKGROUP)
    config = workgroup.props["configuration"]
    bucket_key = _one(graph, SSE).props["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    archive_bucket = _one(graph, "aws:s3/bucket:Bucket")
    assert workgroup.props["name"] == f"sensorhub-{graph.stack}-archive" and workgroup.props["state"] == "ENABLED"
    assert config["enforceWorkgroupConfiguration"] is True
    assert config["publishCloudwatchMetricsEnabled"] is True
    assert config["engineVersion"]["selectedEngineVersion"] == "Athena engine version 3"
    assert config["bytesScannedCutoffPerQuery"] == _storage_config(graph)["athenaBytesScannedCutoffPerQuery"]
    assert config["resultConfiguration"]["encryptionConfiguration"] == {
        "encryptionOption": "SSE_KMS", "kmsKeyArn": bucket_key}
    output = config["resultConfiguration"]["outputLocation"]
    assert output.startswith("s3://") and output.endswith("/athena-results/")
    assert output.removeprefix("s3://").split("/")[0] == _one(graph, GLUE_TABLE).props[
        "storageDescriptor"]["location"].removeprefix("s3://").split("/")[0]
    assert workgroup.props["forceDestroy"] is (not archive_bucket.protect)
    assert workgroup.parent == _one(graph, "sensorhub:storage:Storage").urn
    # Results expire on their own; the archive's tiering rule stays first and unchanged.
    rules = _one(graph, LIFECYCLE).props["rules"]
    assert [r["id"] for r in rules] == ["archive-tiering", "athena-results-expiry"]
    assert rules[1]["filter"]["prefix"] == "athena-results/"
    assert rules[1]["expiration"]["days"] == _storage_config(graph)["athenaResultsExpireAfterDays"]


def test_athena_would_accept_the_projection_and_the_workgroup(graph: Graph) -> None:
    assert archive_query_problems(graph) == []


def test_the_archive_stays_queryable_by_athena_in_every_storage_class_it_is_moved_to(graph: Graph) -> None:
    """The lifecycle's cold tier is Glacier Instant Retrieval: Athena reads it and a plain GET (the
    restore command) works; Flexible Retrieval would hide archived days from both."""
    rule = _one(graph, LIFECYCLE).props["rules"][0]
    assert rule["id"] == "archive-tiering" and rule["filter"]["prefix"] == ""
    classes = [t["storageClass"] for t in rule["transitions"]]
    assert classes == ["STANDARD_IA", storage.ARCHIVE_COLD_CLASS] and storage.ARCHIVE_COLD_CLASS == "GLACIER_IR"
    assert not set(classes) & storage.UNQUERYABLE_CLASSES
    assert storage.UNQUERYABLE_CLASSES == ATHENA_UNREADABLE_CLASSES


def _params(change: dict[str, str | None]) -> Any:
    def edit(inputs: dict[str, Any]) -> None:
        for key, value in change.items():
            if value is None:
                inputs["parameters"].pop(key)
            else:
                inputs["parameters"][key] = value
    return edit


def _config(path: tuple[str, ...], value: Any) -> Any:
    def edit(inputs: dict[str, Any]) -> None:
        target = inputs["configuration"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _tier_to(storage_class: str) -> Any:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["rules"][0]["transitions"][-1]["storageClass"] = storage_class
    return edit


TEMPLATE = "s3://b/archive/readings/day=${day}/group=${group}/"
DEFECTS = {
    "hyphenated integer range": (GLUE_TABLE, _params({"projection.group.range": "0-15"})),
    "singular interval unit": (GLUE_TABLE, _params({"projection.day.interval.unit": "DAY"})),
    "strftime day format": (GLUE_TABLE, _params({"projection.day.format": "%Y-%m-%d"})),
    "range outside the format": (GLUE_TABLE, _params({"projection.day.range": "2026/01/01,NOW"})),
    "unknown projection type": (GLUE_TABLE, _params({"projection.group.type": "int"})),
    "no projection for a key": (GLUE_TABLE, _params({"projection.group.type": None})),
    "misspelt property": (GLUE_TABLE, _params({"projection.group.digit": "4"})),
    "template missing a key": (GLUE_TABLE, _params({"storage.location.template": "s3://b/archive/readings/${day}/"})),
    "template outside the table": (GLUE_TABLE, _params({"storage.location.template": TEMPLATE})),
    "hyphen in the table name": (GLUE_TABLE, lambda i: i.update(name="raw-readings")),
    "cutoff below 10 MB": (ATHENA_WORKGROUP, _config(("bytesScannedCutoffPerQuery",), 1_000_000.0)),
    "settings not enforced": (ATHENA_WORKGROUP, _config(("enforceWorkgroupConfiguration",), False)),
    "SSE-KMS spelt with a hyphen": (
        ATHENA_WORKGROUP, _config(("resultConfiguration", "encryptionConfiguration", "encryptionOption"), "SSE-KMS")),
    "KMS without a key": (
        ATHENA_WORKGROUP, _config(("resultConfiguration", "encryptionConfiguration", "kmsKeyArn"), "")),
    "results inside the table": (ATHENA_WORKGROUP, lambda i: i["configuration"]["resultConfiguration"].update(
        outputLocation=i["configuration"]["resultConfiguration"]["outputLocation"].replace(
            "athena-results/", "archive/readings/results/"))),
    # Flexible Retrieval (the class this rule used before) and Deep Archive: Athena cannot read them.
    "archive tiered to Glacier Flexible Retrieval": (LIFECYCLE, _tier_to("GLACIER")),
    "archive tiered to Glacier Deep Archive": (LIFECYCLE, _tier_to("DEEP_ARCHIVE")),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_what_athena_would_refuse_is_caught(defect: str) -> None:
    type_, edit = DEFECTS[defect]
    variant = changed(recorded("dev"), lambda r: r.type == type_, edit)
    assert archive_query_problems(variant), defect


# ----------------------------------------------------------------------------- the layout, app vs infra


def test_the_table_layout_is_the_one_the_service_writes() -> None:
    assert catalog.READINGS_ROOT == archive_format.ROOT
    assert catalog.GROUP_DIGITS == archive_format.GROUP_DIGITS
    day_format = java_date_format(catalog.DAY_FORMAT)
    assert day_format is not None
    for day, group in ((date(2026, 11, 30), 7), (date(2031, 1, 2), 4095)):
        directory = catalog.LOCATION_TEMPLATE.replace("${day}", day.strftime(day_format)).replace(
            "${group}", f"{group:0{catalog.GROUP_DIGITS}d}")
        key = archive_format.part_key(day, group)
        assert key.startswith(directory) and "/" not in key.removeprefix(directory)
        manifest = archive_format.manifest_key(day)
        assert manifest.startswith(directory.split("group=")[0]) and not manifest.startswith(directory)
    # Every group the service may write fits the digits Athena pads to; the projected range is the default.
    groups = Settings.model_fields["archive_device_groups"]
    assert groups.default == catalog.DEVICE_GROUPS
    assert any(getattr(m, "le", 0) and m.le < 10 ** catalog.GROUP_DIGITS for m in groups.metadata)


def test_the_table_columns_are_the_parquet_schema() -> None:
    glue_type = {pa.float64(): "double"}

    def of(field: pa.Field) -> str:
        if pa.types.is_dictionary(field.type) and pa.types.is_string(field.type.value_type):
            return "string"
        if pa.types.is_timestamp(field.type):
            assert field.type.unit == "us" and field.type.tz == "UTC"  # Athena v3 reads µs, UTC-adjusted
            return "timestamp"
        return glue_type[field.type]

    assert tuple((f.name, of(f)) for f in archive_format.SCHEMA) == catalog.COLUMNS


# ----------------------------------------------------------------------------- the service's archive calls vs IAM
# boto3 client method -> the IAM action it needs.
S3_ACTIONS = {"put_object": "s3:PutObject", "get_object": "s3:GetObject", "list_objects_v2": "s3:ListBucket",
              "delete_object": "s3:DeleteObject"}


class _RecordingS3:
    """Stands in for a boto3 S3 client: records which API methods the archive sink calls."""

    class exceptions:
        NoSuchKey = KeyError

    def __init__(self) -> None:
        self.calls: set[str] = set()

    def put_object(self, **_: Any) -> None:
        self.calls.add("put_object")

    def get_object(self, **_: Any) -> Any:
        self.calls.add("get_object")
        raise KeyError

    def delete_object(self, **_: Any) -> None:
        self.calls.add("delete_object")

    def get_paginator(self, name: str) -> Any:
        self.calls.add(name)
        return type("Pages", (), {"paginate": lambda _self, **__: [{"Contents": []}]})()


async def test_the_service_role_grants_every_s3_call_the_archive_makes() -> None:
    from sensorhub.timeseries.archive import S3Sink

    client = _RecordingS3()
    sink = S3Sink("bucket", catalog.ARCHIVE_PREFIX, client)
    await sink.put("readings/day=2026-11-30/_manifest.json", b"{}")
    assert await sink.get("readings/day=2026-11-30/_manifest.json") is None
    assert await sink.sizes("readings/day=2026-11-30/") == {}
    await sink.delete("readings/day=2026-11-30/group=0001/part-00000.parquet")
    assert client.calls == set(S3_ACTIONS)
    for stack in ("dev", "prod"):
        policy = recorded(stack).named("aws:iam/rolePolicy:RolePolicy", "service-workload")
        statements = json.loads(policy.props["policy"])["Statement"]
        bucket = statements[0]["Resource"]
        for method, action in S3_ACTIONS.items():
            resource = bucket if action == "s3:ListBucket" else f"{bucket}/{catalog.ARCHIVE_PREFIX}/readings/x"
            assert any(action in s["Action"] and fnmatch.fnmatchcase(resource, s["Resource"]) for s in statements), (
                f"{stack}: the archive calls {method} but the service role does not grant {action} on {resource}")
