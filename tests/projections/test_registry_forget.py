"""The registry read model and the device lifecycle: a reactivated device is active again; a
deleted one leaves the read model with its alerts, in any batching, like a rebuild from scratch."""

from __future__ import annotations

import asyncpg

from tests.projections.support import KEYS, append_history, table_rows
from tests.projections.test_batch_writes import _replay

_APPEND = """
SELECT eventstore_append($1::text, 'Device', 'any', ARRAY[gen_random_uuid()], ARRAY[$2::text], ARRAY[1],
                         ARRAY[jsonb_build_object('device_id', $1::text)], ARRAY['{}'::jsonb])
"""


async def test_reactivated_and_deleted_devices_in_the_registry(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 20)
        for device_id, event in (
            ("dev-3", "DeviceDecommissioned"),
            ("dev-3", "DeviceReactivated"),
            ("dev-4", "DeviceDecommissioned"),
            ("dev-6", "DeviceDeleted"),
            ("dev-9", "DeviceDecommissioned"),
            ("dev-9", "DeviceDeleted"),
        ):
            await conn.execute(_APPEND, device_id, event)
        for generation, batch in ((901, 1), (902, 5), (903, 100_000)):
            await _replay(conn, "registry", generation, batch)
        devices = await table_rows(conn, "rm_devices_g903", KEYS["rm_devices"])
        alerts = await table_rows(conn, "rm_alerts_g903", KEYS["rm_alerts"])
        for generation in (901, 902):
            assert await table_rows(conn, f"rm_devices_g{generation}", KEYS["rm_devices"]) == devices
            assert await table_rows(conn, f"rm_alerts_g{generation}", KEYS["rm_alerts"]) == alerts
    status = {d["device_id"]: d["status"] for d in devices}
    assert "dev-6" not in status and "dev-9" not in status
    assert (status["dev-3"], status["dev-4"], len(status)) == ("active", "decommissioned", 18)
    assert alerts, "the history raises alerts"
    assert not {a["device_id"] for a in alerts} & {"dev-6", "dev-9"}
