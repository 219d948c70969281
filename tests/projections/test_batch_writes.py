"""How projection batches write rows and send effects: JSON row transport, narrow updates,
one-statement fan-out, bigger batches while behind."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.stores.redis import RedisStore
from sensorhub.application.stored_events import FeedCursor
from sensorhub.db import init_connection
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.feed import read_feed
from sensorhub.projections.by_name import all_projections
from sensorhub.projections.fanout import ALERTS_CHANNEL, CACHE_NAMESPACE, Fanout, stamp_key
from sensorhub.projections.model import Effects, payload_time, upsert
from sensorhub.projections.rows import loads
from sensorhub.projections.runner import ProjectionRunner, RunnerConfig

from tests.projections.support import KEYS, append_history, table_rows


def test_loads_reads_every_document_as_json_loads_does() -> None:
    for text in ('{"a":[1,2.5,"é",null,true]}', "1" + "0" * 400, '{"big":1' + "0" * 400 + ".5}", "-0.0"):
        assert loads(text) == json.loads(text)
    assert loads('{"big":1' + "0" * 400 + ".5}")["big"] == math.inf  # msgspec refuses it; json.loads does not


def test_a_naive_payload_time_is_utc() -> None:
    assert payload_time("2026-01-01T05:00:00") == datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert payload_time("2026-01-01T05:00:00+02:00").utcoffset() is not None


async def test_rows_round_trip_through_json_to_recordset(pool: asyncpg.Pool) -> None:
    columns = (("k", "text"), ("f", "float8"), ("t", "timestamptz"), ("j", "jsonb"), ("n", "int8"))
    rows: list[dict[str, Any]] = [
        {"k": "inf", "f": math.inf, "t": payload_time("2026-01-01T00:00:00"), "j": {"a": [1, "é"]}, "n": 2**62},
        {"k": "-inf", "f": -math.inf, "t": payload_time("2026-01-01T00:00:00+02:00"), "j": [], "n": None},
        {"k": "nan", "f": math.nan, "t": None, "j": None, "n": 0},
        {"k": "tiny", "f": 5e-324, "t": None, "j": "x", "n": -1},
    ]
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE rows_rt (k text PRIMARY KEY, f float8, t timestamptz, j jsonb, n int8)")
        await upsert(conn, "rows_rt", "k", columns, rows)
        await upsert(conn, "rows_rt", "k", columns, [{**rows[3], "f": 0.1}])  # the conflict path
        got = {r["k"]: dict(r) for r in await conn.fetch("SELECT * FROM rows_rt")}
    assert got["inf"]["f"] == math.inf and got["-inf"]["f"] == -math.inf and math.isnan(got["nan"]["f"])
    assert got["tiny"]["f"] == 0.1
    assert got["inf"]["t"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert got["-inf"]["t"] == datetime(2025, 12, 31, 22, tzinfo=UTC)
    assert (got["inf"]["j"], got["-inf"]["j"], got["nan"]["j"], got["tiny"]["j"]) == ({"a": [1, "é"]}, [], None, "x")
    assert (got["inf"]["n"], got["-inf"]["n"]) == (2**62, None)


async def _replay(conn: Any, name: str, generation: int, batch: int) -> None:
    """Replay the feed into ``generation`` in batches of ``batch`` events."""
    projection, registry = all_projections()[name], build_registry()
    await conn.execute("SELECT rm_drop_generation($1, $2), rm_create_generation($1, $2)", name, generation)
    cursor = FeedCursor.start()
    while records := await read_feed(conn, cursor, batch):
        async with conn.transaction():
            await projection.apply(conn, generation, [registry.upcast_record(r) for r in records], Effects())
        cursor = records[-1].cursor


async def test_small_batches_write_what_one_batch_writes(pool: asyncpg.Pool) -> None:
    """One batch over everything writes only whole new rows; batches of a few events take the
    narrow paths (open alert counts, alert lifecycle columns, alerts raised in an earlier batch):
    both must end in the same rows."""
    async with pool.acquire() as conn:
        await append_history(conn, 1, 40)
        await conn.fetchval(  # a raise, acknowledge and resolve of one alert, each its own batch later on
            "SELECT count(*) FROM eventstore_append('alert-x', 'Alert', 'any', ARRAY[gen_random_uuid(),"
            " gen_random_uuid(), gen_random_uuid()], ARRAY['AlertRaised', 'AlertAcknowledged', 'AlertResolved'],"
            " ARRAY[1, 1, 1], ARRAY[jsonb_build_object('alert_id', 'alert-x', 'device_id', 'dev-2', 'metric',"
            " 'temperature', 'severity', 'critical', 'trigger_value', 99, 'threshold', jsonb_build_object('max', 30),"
            " 'raised_at', '2026-03-01T00:00:00Z'), jsonb_build_object('alert_id', 'alert-x', 'by', 'op', 'note', 'n1',"
            " 'acknowledged_at', '2026-03-01T00:01:00Z'), jsonb_build_object('alert_id', 'alert-x', 'by', 'op2',"
            " 'note', NULL, 'resolved_at', '2026-03-01T00:02:00Z')], ARRAY['{}'::jsonb, '{}', '{}'])"
        )
        for generation, batch in ((901, 1), (902, 7), (903, 100_000)):
            await _replay(conn, "registry", generation, batch)
        for t in ("rm_devices", "rm_alerts"):
            whole = await table_rows(conn, f"{t}_g903", KEYS[t])
            assert len(whole) >= 40
            for generation in (901, 902):
                assert await table_rows(conn, f"{t}_g{generation}", KEYS[t]) == whole, (t, generation)
        alert = await conn.fetchrow("SELECT * FROM rm_alerts_g901 WHERE alert_id = 'alert-x'")
        assert (alert["status"], alert["acknowledged_by"], alert["resolved_by"], alert["note"]) == (
            "resolved",
            "op",
            "op2",
            "n1",
        )
        assert alert["threshold"] == {"min": None, "max": 30} and alert["trigger_value"] == 99.0
        # dev-2's own alert (alert-2, raised and auto-resolved) and alert-x (resolved): none open
        assert await conn.fetchval("SELECT open_alerts FROM rm_devices_g901 WHERE device_id = 'dev-2'") == 0
        assert await conn.fetchval("SELECT open_alerts FROM rm_devices_g901 WHERE device_id = 'dev-1'") == 1


def _changes(n: int) -> Effects:
    changes = [{"type": "AlertRaised", "position": i, "alert": {"alert_id": f"a{i}"}} for i in range(n)]
    return Effects(alert_changes=changes)


async def test_notify_fan_out_sends_every_change_in_order_on_commit_only(pool: asyncpg.Pool, database_url: str) -> None:
    received: list[int] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(ALERTS_CHANNEL, lambda *args: received.append(json.loads(args[3])["position"]))
    try:
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await Fanout(None).in_transaction(conn, _changes(3))
            await tx.rollback()
            async with conn.transaction():
                await Fanout(None).in_transaction(conn, _changes(50))
        for _ in range(100):
            if len(received) >= 50:
                break
            await asyncio.sleep(0.05)
        assert received == list(range(50))
    finally:
        await listener.close()


async def test_redis_fan_out_publishes_every_change_in_order(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(ALERTS_CHANNEL)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        await Fanout(redis).after_commit("registry", 1, FeedCursor(5, 9), _changes(40))
        received: list[int] = []
        for _ in range(200):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                received.append(json.loads(message["data"])["position"])
            if len(received) >= 40:
                break
        assert received == list(range(40))
        assert await RedisStore(redis, namespace=CACHE_NAMESPACE).get(stamp_key("registry")) == b"1.5.9"
    finally:
        await pubsub.aclose()
        await redis.aclose()


def test_live_batches_grow_to_the_rebuild_size_only_while_behind() -> None:
    runner = ProjectionRunner(
        all_projections()["registry"],
        dsn="postgresql://unused",
        registry=build_registry(),
        fanout=Fanout(None),
        config=RunnerConfig(batch_size=500, rebuild_batch_size=2000),
        holder="test",
    )
    assert runner._live_limit(behind=False) == 500  # pyright: ignore[reportPrivateUsage]
    assert runner._live_limit(behind=True) == 2000  # pyright: ignore[reportPrivateUsage]


async def test_the_projector_session_decodes_with_the_fast_codec(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await init_connection(conn, decode=loads)  # as ProjectionRunner._connect does
        assert await conn.fetchval("SELECT '{\"a\": [1, 2.5]}'::jsonb") == {"a": [1, 2.5]}
        assert await conn.fetchval("SELECT $1::jsonb", {"b": "é"}) == {"b": "é"}
    finally:
        await conn.close()
