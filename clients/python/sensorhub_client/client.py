"""A small typed client of the sensorhub API over ``httpx``: the everyday calls, answers decoded
into the generated models (``models.py``), errors raised as :class:`ApiError` with the problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx
import msgspec

from sensorhub_client import models

T = TypeVar("T")


class ApiError(Exception):
    """A problem+json answer: ``status``, ``detail`` and, for 422, ``errors`` ``[{field, message}]``."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail', problem)}")
        self.status = status
        self.problem = dict(problem)
        self.errors: list[dict[str, str]] = list(problem.get("errors", []))


class Written(msgspec.Struct):
    """What a command answered besides its body: the version (``ETag``) and the position to read
    your write with (``X-Position``)."""

    version: int | None
    position: int | None


class SensorhubClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._http.headers["Authorization"] = f"Bearer {api_key}"
        self.last_write = Written(None, None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SensorhubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- devices ------------------------------------------------------------------------------

    def register_device(
        self, body: models.RegisterDeviceBody, *, idempotency_key: str | None = None
    ) -> models.DeviceView:
        return self._command("POST", "/v1/devices", models.DeviceView, body=body, idempotency_key=idempotency_key)

    def get_device(self, device_id: str, *, min_position: int | None = None) -> models.DeviceView:
        params = {"min_position": min_position} if min_position is not None else None
        return self._get(f"/v1/devices/{device_id}", models.DeviceView, params)

    def list_devices(self, *, page_size: int = 100, **filters: str) -> Iterator[models.DeviceView]:
        """Every device (filters: ``site``, ``status``, ``kind``), following ``next_cursor``."""
        yield from self._pages("/v1/devices", models.DevicePage, {**filters, "limit": page_size})

    def update_device(
        self, device_id: str, body: models.UpdateDeviceBody, *, if_match: int | None = None
    ) -> models.DeviceView:
        return self._command("PATCH", f"/v1/devices/{device_id}", models.DeviceView, body=body, if_match=if_match)

    def decommission(self, device_id: str, *, if_match: int | None = None) -> models.DeviceView:
        return self._command("POST", f"/v1/devices/{device_id}/decommission", models.DeviceView, if_match=if_match)

    def reactivate(self, device_id: str, *, if_match: int | None = None) -> models.DeviceView:
        return self._command("POST", f"/v1/devices/{device_id}/reactivate", models.DeviceView, if_match=if_match)

    def delete_device(self, device_id: str, *, if_match: int | None = None) -> None:
        self._command("DELETE", f"/v1/devices/{device_id}", None, if_match=if_match)

    # --- readings -----------------------------------------------------------------------------

    def ingest(self, readings: Sequence[Mapping[str, Any]]) -> models.IngestResponse:
        rows = [{**r, "time": r["time"].isoformat()} if isinstance(r["time"], datetime) else r for r in readings]
        return self._send("POST", "/v1/readings", models.IngestResponse, json={"readings": rows})

    def readings(
        self, device_id: str, metric: str, start: datetime, end: datetime, *, page_size: int = 1000
    ) -> Iterator[tuple[datetime, float]]:
        """Every raw reading of one series in ``[start, end)``, oldest first, page by page."""
        params: dict[str, Any] = {"metric": metric, "from": start.isoformat(), "to": end.isoformat()}
        for item in self._pages(
            f"/v1/devices/{device_id}/readings", models.ReadingsPage, {**params, "limit": page_size}
        ):
            yield msgspec.convert(item["time"], datetime, strict=False), float(item["value"])

    def export(
        self,
        device_id: str,
        start: datetime,
        end: datetime,
        *,
        fmt: Literal["csv", "ndjson"] = "csv",
        metric: str | None = None,
    ) -> Iterator[str]:
        """The streaming export, line by line (never held whole in memory)."""
        params: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat(), "format": fmt}
        if metric is not None:
            params["metric"] = metric
        with self._http.stream("GET", f"/v1/devices/{device_id}/readings/export", params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, _problem(response))
            yield from response.iter_lines()

    def latest(self, device_id: str) -> models.LatestReadings:
        return self._get(f"/v1/devices/{device_id}/latest", models.LatestReadings)

    # --- plumbing -----------------------------------------------------------------------------

    def _get(self, path: str, model: type[T], params: Mapping[str, Any] | None = None) -> T:
        return self._send("GET", path, model, params=params)

    def _pages(self, path: str, page_model: type[Any], params: Mapping[str, Any]) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            page = self._get(path, page_model, query)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    def _command(
        self,
        method: str,
        path: str,
        model: type[T] | None,
        *,
        body: msgspec.Struct | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        headers = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        content = msgspec.json.encode(body) if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = self._request(method, path, content=content, headers=headers)
        etag = response.headers.get("etag", "").strip('W/"')
        position = response.headers.get("x-position")
        self.last_write = Written(int(etag) if etag.isdigit() else None, int(position) if position else None)
        return None if model is None else msgspec.json.decode(response.content, type=model)  # type: ignore[return-value]

    def _send(self, method: str, path: str, model: type[T], **kwargs: Any) -> T:
        return msgspec.json.decode(self._request(method, path, **kwargs).content, type=model)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"status": response.status_code, "detail": response.text}
    return body if isinstance(body, dict) else {"status": response.status_code, "detail": str(body)}
