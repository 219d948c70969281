"""The alert-history read model on both time-series engines: a hypertable on TimescaleDB, month
partitions (created as rows need them) on plain PostgreSQL. The same alert transitions, written
through the application layer, must read back the same over ``GET /v1/alerts/history`` — raw
and bucketed, across month boundaries, paginated, and again after a rebuild into a new generation."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sensorhub.application.alerts import acknowledge_alert, auto_resolve_alert, raise_alert, resolve_alert
from sensorhub.db import Conn, init_connection
from sensorhub.domain.alert_commands import AcknowledgeAlert, AutoResolveAlert, RaiseAlert, ResolveAlert
from sensorhub.domain.values import Bounds
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.projections import store

from tests.projections.support import running_projector, wait_caught_up
from tests.support.app import auth, client_for, settings_for

START = datetime(2026, 1, 20, 6, 0, tzinfo=UTC)
END = datetime(2026, 7, 1, tzinfo=UTC)
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Transition:
    time: datetime
    device_id: str
    alert_id: str
    metric: str
    severity: str
    transition: str
    value: float | None
    actor: str | None


def _plan() -> list[Transition]:
    """16 alerts over five months; some acknowledged, resolved by hand or automatically (a day
    later, so across day and month ends), some left open; one raised exactly at a month start
    and one a millisecond before it."""
    out: list[Transition] = []
    raised_times = [START + i * timedelta(days=9, hours=7, minutes=13) for i in range(14)]
    raised_times += [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 28, 23, 59, 59, 999000, tzinfo=UTC)]
    for i, raised in enumerate(raised_times):
        subject = (f"dev-{i % 3}", f"alert-{i:02d}", ("temperature", "pressure")[i % 2], SEVERITIES[i % 3])
        steps: list[tuple[datetime, str, float | None, str | None]] = [(raised, "raised", 40.0 + i, None)]
        if i % 3 == 0:
            steps.append((raised + timedelta(minutes=50), "acknowledged", None, f"op-{i % 2}"))
        if i % 4 == 0:
            steps.append((raised + timedelta(hours=2, seconds=i), "resolved", None, "op-0"))
        elif i % 2 == 1:
            steps.append((raised + timedelta(hours=26, seconds=i), "auto_resolved", 20.0 + i, None))
        out += [Transition(time, *subject, transition, value, actor) for time, transition, value, actor in steps]
    return out


async def _write(pool: asyncpg.Pool, plan: list[Transition]) -> None:
    """Raise every alert first, then the later transitions: feed order is not time order, and a
    projector batch spans several months (several partitions)."""
    registry = build_registry()
    order = {"raised": 0, "acknowledged": 1, "resolved": 2, "auto_resolved": 2}
    for t in sorted(plan, key=lambda t: (order[t.transition], t.alert_id)):
        async with postgres_unit_of_work(pool, registry) as uow:
            match t.transition:
                case "raised":
                    assert t.value is not None
                    bounds = Bounds(None, 30.0)
                    cmd = RaiseAlert(t.alert_id, t.device_id, t.metric, t.severity, t.value, bounds, t.time)
                    await raise_alert(cmd, uow)
                case "acknowledged":
                    await acknowledge_alert(AcknowledgeAlert(t.alert_id, t.actor or "", None, t.time), uow)
                case "resolved":
                    await resolve_alert(ResolveAlert(t.alert_id, t.actor, "fixed", t.time), uow)
                case _:
                    assert t.value is not None
                    await auto_resolve_alert(AutoResolveAlert(t.alert_id, t.value, t.time), uow)


def _transition(item: dict[str, Any]) -> Transition:
    return Transition(
        datetime.fromisoformat(item["time"]),
        item["device_id"],
        item["alert_id"],
        item["metric"],
        item["severity"],
        item["transition"],
        item["value"],
        item["actor"],
    )


def _expected(plan: list[Transition], start: datetime, end: datetime, device: str | None) -> list[Transition]:
    return sorted((t for t in plan if start <= t.time < end and device in (None, t.device_id)), key=lambda t: t.time)


def _expected_buckets(plan: list[Transition], start: datetime, end: datetime, width_s: int) -> list[dict[str, Any]]:
    """Epoch-aligned buckets (UTC), empty ones left out."""
    counts: dict[datetime, Counter[str]] = {}
    for t in _expected(plan, start, end, None):
        at = datetime.fromtimestamp(int(t.time.timestamp()) // width_s * width_s, UTC)
        counts.setdefault(at, Counter())[t.transition] += 1
    kinds = ("raised", "acknowledged", "resolved", "auto_resolved")
    return [{"time": at, "total": sum(c.values())} | {k: c[k] for k in kinds} for at, c in sorted(counts.items())]


async def _history(client: AsyncTestClient[Any], **params: Any) -> dict[str, Any]:
    query = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items() if v is not None}
    got = await client.get("/v1/alerts/history", params=query, headers=auth())
    assert got.status_code == 200, got.text
    return got.json()


async def _all_pages(client: AsyncTestClient[Any], **params: Any) -> tuple[list[Transition], int]:
    items: list[Transition] = []
    pages, cursor = 0, None
    while True:
        page = await _history(client, **params, cursor=cursor)
        items += [_transition(i) for i in page["items"]]
        pages += 1
        if (cursor := page["next_cursor"]) is None:
            return items, pages


async def _storage(conn: Conn, engine: str, generation: int) -> list[str]:
    """The physical pieces of the generation's history table: chunk starts (a hypertable) or the
    months of its partitions (``rm_alert_history_g<N>_p<YYYYMM>``)."""
    parent = f"rm_alert_history_g{generation}"
    if engine == "timescaledb":
        rows = await conn.fetch(
            "SELECT range_start FROM timescaledb_information.chunks WHERE hypertable_name = $1 ORDER BY 1", parent
        )
        return [r["range_start"].isoformat() for r in rows]
    assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = $1", parent) == "p"
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass ORDER BY 1",
        parent,
    )
    names = [r["relname"] for r in rows]
    assert all(n.startswith(f"{parent}_p") for n in names), names
    return [n.removeprefix(f"{parent}_p") for n in names]


async def _answers(client: AsyncTestClient[Any], plan: list[Transition]) -> None:
    """Everything ``GET /v1/alerts/history`` is asked here equals what the plan says."""
    everything = await _history(client, **{"from": START - timedelta(days=1), "to": END})
    assert [_transition(i) for i in everything["items"]] == _expected(plan, START - timedelta(days=1), END, None)
    positions = [i["position"] for i in everything["items"]]
    assert len(set(positions)) == len(positions) and all(p > 0 for p in positions)

    # one device; a range starting exactly at a month start (inclusive) and ending at the next (exclusive)
    march, april = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    for device in ("dev-0", "dev-1", None):
        got = await _history(client, **{"from": march, "to": april, "device_id": device})
        expected = _expected(plan, march, april, device)
        assert [_transition(i) for i in got["items"]] == expected
        assert got["device_id"] == device
    assert _expected(plan, march, april, None)[0].time == march  # the edge is really exercised
    before_march = await _history(client, **{"from": march - timedelta(days=1), "to": march})
    assert [_transition(i) for i in before_march["items"]][-1].time == march - timedelta(milliseconds=1)

    # pages of 5 across partitions add up to the whole
    paged, pages = await _all_pages(client, **{"from": START, "to": END, "limit": 5})
    assert paged == _expected(plan, START, END, None)
    assert pages == -(-len(paged) // 5)

    for bucket, width_s, start, end in (
        ("1d", 86_400, START, END),
        ("7d", 7 * 86_400, START, END),  # weeks that straddle month ends
        ("30d", 30 * 86_400, START - timedelta(days=40), END),
        ("1h", 3600, datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
    ):
        got = await _history(client, **{"from": start, "to": end, "bucket": bucket})
        assert got["bucket"] == bucket
        items = [i | {"time": datetime.fromisoformat(i["time"])} for i in got["items"]]
        assert items == _expected_buckets(plan, start, end, width_s), bucket
        assert sum(i["total"] for i in items) == len(_expected(plan, start, end, None))


@pytest.fixture
async def engine_pool(engine_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(engine_database_url, min_size=1, max_size=4, init=init_connection)
    yield pool
    await pool.close()


async def test_alert_history_reads_the_same_on_both_engines(
    engine: str, engine_database_url: str, engine_pool: asyncpg.Pool
) -> None:
    plan = _plan()
    await _write(engine_pool, plan)
    months = sorted({t.time.strftime("%Y%m") for t in plan})
    assert len(months) == 5 and len(plan) > 30
    async with client_for(settings_for(engine_database_url)) as client, running_projector(engine_database_url):
        async with engine_pool.acquire() as conn:
            await wait_caught_up(conn, timeout=30)
            pieces = await _storage(conn, engine, 1)
        if engine == "postgres":
            assert pieces == months
        else:
            assert len(pieces) >= 5, pieces  # 30-day chunks over five months and a bit
        await _answers(client, plan)

        # a rebuild replays everything into generation 2 (its own partitions or chunks), then the same answers
        async with engine_pool.acquire() as conn:
            assert await store.request_rebuild(conn, "alert_history")
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                gens = await store.generations(conn, "alert_history")
                # the leader drops the retired generation right after the swap commits, not in it
                retired = await conn.fetchval("SELECT to_regclass('rm_alert_history_g1')")
                if (gens.live, gens.shadow, retired) == (2, None, None):
                    break
                assert asyncio.get_running_loop().time() < deadline, f"no swap and drop within 30 s: {gens}"
                await asyncio.sleep(0.05)
            assert await _storage(conn, engine, 2) == pieces
        await _answers(client, plan)
