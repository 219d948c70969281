"""The OpenAPI document describes every operation's success body and errors."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

PUBLIC = ("/health", "/metrics", "/schema")


async def test_every_operation_documents_its_bodies_and_errors(client: AsyncTestClient[Any]) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert "Problem" in doc["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "responses" in op
    ]
    assert len(operations) >= 10
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("operationId"), f"{where} has no operationId"
        responses = op["responses"]
        assert "503" in responses, where
        if not path.startswith(PUBLIC):
            assert {"401", "403"} <= set(responses), f"{where} does not document 401/403"
            assert op["security"] == [{"BearerAuth": []}], where
        if "requestBody" in op:
            assert {"413", "422"} <= set(responses), f"{where} does not document 413/422"
        for code, response in responses.items():
            content = response.get("content", {})
            if code.startswith("2") and "application/json" in content:
                schema = content["application/json"]["schema"]
                assert schema != {"type": "string"}, f"{where} {code} documents a JSON body as a bare string"
            if code.startswith(("4", "5")):
                assert "application/problem+json" in content, f"{where} {code} is not problem+json"


async def test_the_alert_stream_documents_its_event_stream(client: AsyncTestClient[Any]) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    ok = doc["paths"]["/v1/alerts/stream"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    ref = ok["content"]["text/event-stream"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(doc["components"]["schemas"][ref]["properties"]) == {"data", "event", "id", "retry"}


async def test_the_schema_page_needs_no_other_host(client: AsyncTestClient[Any]) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    doc = (await client.get("/schema/openapi.json")).json()
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values() if isinstance(op, dict)]
    assert all(f'id="{o}"' in page.text for o in operation_ids)
    assert "<script" not in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert (await client.get("/schema/openapi.yaml")).status_code == 200
    for viewer in ("/schema/swagger", "/schema/redoc"):  # the CDN-backed viewers are gone
        assert (await client.get(viewer)).status_code == 404
