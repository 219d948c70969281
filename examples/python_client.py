#!/usr/bin/env python3
"""The typed Python client in one run: register a device, send readings, read them back page by
page, export them as CSV, then decommission, reactivate and delete (forget) the device.

    SENSORHUB_URL=http://127.0.0.1:8000 SENSORHUB_API_KEY="$(cat .local/admin.key)" \\
        .venv/bin/python examples/python_client.py

Prints what it did and exits 0; an API error ends it with the problem's detail."""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))

from sensorhub_client import ApiError, SensorhubClient, models


def main() -> int:
    url = os.environ.get("SENSORHUB_URL", "http://127.0.0.1:8000")
    key = os.environ["SENSORHUB_API_KEY"]
    device_id = f"example-{uuid.uuid4().hex[:8]}"
    with SensorhubClient(url, key) as api:
        device = api.register_device(
            models.RegisterDeviceBody(
                device_id=device_id,
                name=f"Boiler {device_id}",
                site="example-site",
                kind="thermometer",
                metrics=[models.MetricBody(name="temperature", unit="C")],
            )
        )
        print(f"registered {device.device_id} (version {device.version}, status {device.status})")

        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        rows = [
            {
                "device_id": device_id,
                "metric": "temperature",
                "time": start + timedelta(minutes=i),
                "value": 20 + i / 10,
            }
            for i in range(90)
        ]
        sent = api.ingest(rows)
        print(f"ingested {sent.accepted} readings ({sent.duplicates} duplicates, {len(sent.rejected)} rejected)")

        end = start + timedelta(hours=2)
        read = list(api.readings(device_id, "temperature", start, end, page_size=25))
        print(f"read back {len(read)} readings in pages of 25: first {read[0][1]}, last {read[-1][1]}")

        lines = list(api.export(device_id, start, end, fmt="csv"))
        print(f"exported {len(lines) - 1} rows as CSV: {lines[1]}")

        api.decommission(device_id)
        back = api.reactivate(device_id, if_match=api.last_write.version)
        print(f"decommissioned, then reactivated: status {back.status}, version {back.version}")

        api.delete_device(device_id)
        try:
            api.get_device(device_id)
        except ApiError as exc:
            print(f"deleted: reading it now answers {exc.status}")
        else:
            print("the deleted device is still readable", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ApiError as exc:
        print(f"API error {exc}", file=sys.stderr)
        sys.exit(1)
