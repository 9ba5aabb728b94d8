"""The error surface of any route, on an app built by create_app, exercised in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel, Field
from structlog.testing import capture_logs

from orchestrator.app.factory import create_app
from orchestrator.config import Settings
from orchestrator.store.embedded import EmbeddedServer


class Probe(BaseModel):
    name: str = Field(min_length=1)
    tags: list[str] = Field(max_length=3)


@pytest.fixture
async def client(valkey: EmbeddedServer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(redis_url=valkey.url, max_body_bytes=1024))

    @app.post("/probe")
    async def probe(body: Probe) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert isinstance(body["type"], str)
    return body


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/probe", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    body = _is_problem(response, 400)
    assert body["type"] == "urn:problem:orchestrator:malformed-json"


async def test_validation_errors_name_every_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe", json={"name": "", "tags": ["ok", 3]})
    body = _is_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"name", "tags[1]"}
    assert all(error["in"] == "body" for error in body["errors"])  # type: ignore[attr-defined]
    assert "name" in str(body["detail"])


async def test_a_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe", json={"name": "x" * 2000, "tags": []})
    body = _is_problem(response, 413)
    assert "1024" in str(body["detail"])


async def test_a_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'", "tags": []}'

    response = await client.post(
        "/probe", content=chunks(), headers={"content-type": "application/json"}
    )
    _is_problem(response, 413)


async def test_an_unhandled_error_is_a_500_problem_without_internals(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await client.get("/explode")
    body = _is_problem(response, 500)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert body["instance"] == "/explode"
    unhandled = [entry for entry in logs if entry["event"] == "http.unhandled"]
    assert len(unhandled) == 1


async def test_every_request_is_logged_once_with_its_route_template(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        await client.post("/probe", json={"name": "a", "tags": []}, headers={"x-request-id": "r-1"})
    (entry,) = [entry for entry in logs if entry["event"] == "http.request"]
    assert entry["route"] == "/probe"
    assert entry["status"] == 200
    assert entry["method"] == "POST"
    assert entry["request_id"] == "r-1"
    assert entry["duration_ms"] >= 0


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_in_the_openapi_document_resolves(valkey: EmbeddedServer) -> None:
    document = create_app(Settings(redis_url=valkey.url)).openapi()
    components = document["components"]["schemas"]
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in components, ref
    assert document["paths"]["/health"]["get"]["responses"]["200"]
