"""API_KEY guards every mutating request; READ_API_KEY guards reads."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess

WRITE, READ = "write-key-0123456789", "read-key-0123456789"
NIKE = {"name": "Nike", "keywords": ["nike"]}


@pytest.fixture(scope="module")
def service(
    valkey: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    env = {"REDIS_URL": valkey.url, "API_KEY": WRITE, "READ_API_KEY": READ}
    process = ServiceProcess(tmp_path_factory.mktemp("auth"), env).start().wait_ready()
    yield process
    assert process.stop() == 0


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/brands", NIKE),
        ("PATCH", "/v1/brands/nike", {"chunkSize": 5}),
        ("DELETE", "/v1/brands/nike", None),
        ("POST", "/v1/brands/nike/pause", None),
        ("POST", "/v1/brands/nike/resume", None),
    ],
)
def test_every_mutating_route_needs_the_write_key(
    api: httpx.Client, method: str, path: str, body: object
) -> None:
    api.post("/v1/brands", json=NIKE, headers=bearer(WRITE))
    for headers in ({}, bearer("wrong"), bearer(READ), {"authorization": WRITE}):
        denied = api.request(method, path, json=body, headers=headers)
        assert denied.status_code == 401, (headers, denied.text)
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert denied.headers["content-type"] == "application/problem+json"
    assert api.get("/v1/brands/nike", headers=bearer(READ)).json()["version"] == 1  # unchanged
    allowed = api.request(method, path, json=body, headers=bearer(WRITE))
    assert allowed.status_code in (200, 201, 204, 409), allowed.text


def test_reads_need_a_key_when_read_api_key_is_set(api: httpx.Client) -> None:
    api.post("/v1/brands", json=NIKE, headers=bearer(WRITE))
    assert api.get("/v1/brands").status_code == 401
    assert api.get("/v1/brands/nike").status_code == 401
    assert api.get("/v1/brands", headers=bearer(READ)).status_code == 200
    assert api.get("/v1/brands/nike", headers=bearer(WRITE)).status_code == 200
    assert api.get("/health").status_code == 200  # health and metrics stay open
    assert api.get("/metrics").status_code == 200


def test_the_hot_summary_route_needs_the_read_key_too(api: httpx.Client) -> None:
    api.post("/v1/brands", json=NIKE, headers=bearer(WRITE))
    for headers in ({}, bearer("wrong"), {"authorization": READ}):
        denied = api.get("/v1/brands/nike/summary", headers=headers)
        assert denied.status_code == 401, (headers, denied.text)
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert denied.headers["content-type"] == "application/problem+json"
    for key in (READ, WRITE):  # past the check: the brand has no summary yet
        missing = api.get("/v1/brands/nike/summary", headers=bearer(key))
        assert missing.status_code == 404, missing.text
        assert missing.json()["detail"] == "brand 'nike' has no summary yet"
    bad_slug = api.get("/v1/brands/Not_A_Slug/summary", headers=bearer(READ))
    assert bad_slug.status_code == 422
    assert len(bad_slug.headers["x-request-id"]) == 32
