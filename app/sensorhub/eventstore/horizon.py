"""The feed's horizon, made visible: which writing transaction the gap-safe feed is waiting for.

The feed returns only events of transactions older than the oldest transaction still running
(``feed.read_feed``), so one long-running writer anywhere on the cluster holds every projection
back. :func:`feed_horizon` names that writer; :class:`HorizonWatch` turns it into the
``sensorhub_feed_horizon_age_seconds`` gauge and a warning in the projector's log.

Without ``pg_read_all_stats`` (``pg_monitor`` on RDS) PostgreSQL shows another role's sessions
without their times and state, so their age is unknown. The horizon itself (the oldest running
xid) is visible to every role, so :class:`HorizonWatch` also ages it by how long it has stayed
put: a stall is still measured and logged.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from sensorhub.db import Conn
from sensorhub.observability import FEED_HORIZON_AGE_SECONDS

STALL_AFTER_S = 30.0  # a horizon older than this is logged as a stall and shown as not ok
REPEAT_EVERY_S = 60.0  # a stall that goes on is logged again this often

# The oldest transaction that holds an xid (has written) other than this session's own. The feed's
# horizon is exactly the oldest running xid, so this is the session it waits for. Its age counts
# from the transaction's start (an xid is assigned at its first write, which may come later).
# ``horizon``: the feed's horizon as a 32-bit xid (comparable with backend_xid), NULL when no
# transaction with an xid is running.
_OLDEST_WRITER = """
SELECT CASE WHEN pg_snapshot_xmin(s) < pg_snapshot_xmax(s) THEN pg_snapshot_xmin(s)::xid::text END AS horizon,
       a.pid, coalesce(a.application_name, '') AS application_name, coalesce(a.datname, '') AS database,
       coalesce(a.state, '') AS state, coalesce(a.backend_xid::text, '') AS xid,
       (CASE WHEN a.xact_start IS NOT NULL  -- NULL: hidden from this role (greatest() would say 0)
             THEN greatest(extract(epoch FROM clock_timestamp() - a.xact_start), 0) END)::float8 AS age_s
  FROM pg_current_snapshot() AS s
  LEFT JOIN LATERAL (
        SELECT * FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
         ORDER BY age(a.backend_xid) DESC
         LIMIT 1) AS a ON true
"""


@dataclass(frozen=True)
class FeedHorizon:
    """The writing transaction the feed waits for; ``pid`` None (age 0) when there is none."""

    age_s: float = 0.0
    pid: int | None = None
    application_name: str = ""
    database: str = ""
    state: str = ""
    xid: str = ""
    horizon: str | None = None  # the oldest running xid, visible to every role; None: nothing running
    age_known: bool = True  # False: the session's times are hidden from this role (age_s is 0)

    @property
    def stalled(self) -> bool:
        return self.age_s >= STALL_AFTER_S

    def describe(self) -> str:
        if self.pid is None and self.horizon is None:
            return "no writing transaction open: the feed is not held back"
        if self.pid is None:
            return (
                f"waits for transaction {self.horizon}, whose session this role cannot see "
                "(grant it pg_monitor or pg_read_all_stats to name it)"
            )
        if not self.age_known:
            return (
                f"waits for pid {self.pid} ({self.application_name or 'no application_name'}) on database "
                f"{self.database!r}, open for a time this role cannot see (grant it pg_monitor or pg_read_all_stats)"
            )
        return (
            f"waits for pid {self.pid} ({self.application_name or 'no application_name'}) on database "
            f"{self.database!r}, writing for {self.age_s:.1f} s, now {self.state or 'unknown'}"
        )


async def feed_horizon(conn: Conn) -> FeedHorizon:
    row = await conn.fetchrow(_OLDEST_WRITER)
    assert row is not None  # one row, whatever runs
    return FeedHorizon(
        age_s=float(row["age_s"] or 0.0),
        age_known=row["pid"] is None or row["age_s"] is not None,
        pid=None if row["pid"] is None else int(row["pid"]),
        application_name=row["application_name"],
        database=row["database"],
        state=row["state"],
        xid=row["xid"],
        horizon=row["horizon"],
    )


class HorizonWatch:
    """Looks at the horizon (the projector does at each heartbeat): sets the gauge, and logs the
    blocking session once it has held the feed back for ``stall_after_s``, again every
    ``repeat_every_s`` while it goes on, and once more when it has ended."""

    def __init__(
        self, log: Any, *, stall_after_s: float = STALL_AFTER_S, repeat_every_s: float = REPEAT_EVERY_S
    ) -> None:
        self._log = log
        self._stall_after_s = stall_after_s
        self._repeat_every_s = repeat_every_s
        self._reported: tuple[int | None, str] | None = None  # (pid, xid) of the stall last logged
        self._next_report = 0.0
        self._held: tuple[str, float] | None = None  # the horizon xid, and when it was first seen

    async def observe(self, conn: Conn) -> FeedHorizon:
        horizon = await feed_horizon(conn)
        now = time.monotonic()
        if horizon.horizon is None:
            self._held = None
        elif self._held is None or self._held[0] != horizon.horizon:
            self._held = (horizon.horizon, now)
        if self._held is not None and now - self._held[1] > horizon.age_s:
            held_for = now - self._held[1]
            if horizon.xid == self._held[0]:  # the writer seen is the one holding it; its times are hidden
                horizon = dataclasses.replace(horizon, age_s=held_for)
            else:  # held by a session this role does not see at all (a prepared transaction, ...)
                horizon = FeedHorizon(age_s=held_for, xid=self._held[0], horizon=self._held[0])
        FEED_HORIZON_AGE_SECONDS.set(horizon.age_s)
        if horizon.age_s >= self._stall_after_s:
            key = (horizon.pid, horizon.xid)
            if key != self._reported or now >= self._next_report:
                self._log.warning(
                    "feed horizon stalled: projections wait for an open writing transaction",
                    blocking_pid=horizon.pid,
                    blocking_application_name=horizon.application_name,
                    blocking_database=horizon.database,
                    blocking_state=horizon.state,
                    age_s=round(horizon.age_s, 1),
                )
                self._reported, self._next_report = key, now + self._repeat_every_s
        elif self._reported is not None:
            self._log.info("feed horizon moving again", previous_blocking_pid=self._reported[0])
            self._reported = None
        return horizon
