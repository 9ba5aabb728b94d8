"""The HTTP surface of a real service process: headers, problems, metrics, OpenAPI, CORS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, wait_until

ALLOWED_ORIGIN = "https://dashboard.example"


@pytest.fixture(scope="module")
def service(
    valkey: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    workdir: Path = tmp_path_factory.mktemp("http")
    env = {
        "REDIS_URL": valkey.url,
        "MAX_BODY_BYTES": "2048",
        "CORS_ORIGINS": ALLOWED_ORIGIN,
        "SHUTDOWN_GRACE_SEC": "60",  # event streams live 15 s: only a client leaving ends one
    }
    process = ServiceProcess(workdir, env).start().wait_ready()
    yield process
    assert process.stop() == 0


SECURITY_HEADERS = {
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/health", 200), ("GET", "/nowhere", 404), ("DELETE", "/health", 405)],
)
def test_security_headers_and_request_id_on_every_response(
    service: ServiceProcess, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, f"{service.url}{path}")
    assert response.status_code == status
    assert set(response.headers) >= SECURITY_HEADERS
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers  # plain HTTP
    assert len(response.headers["x-request-id"]) == 32


def test_a_given_request_id_is_echoed(service: ServiceProcess) -> None:
    response = httpx.get(f"{service.url}/nowhere", headers={"x-request-id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"


def test_an_unsafe_request_id_is_replaced(service: ServiceProcess) -> None:
    response = httpx.get(f"{service.url}/health", headers={"x-request-id": "bad id\tinjected"})
    assert response.headers["x-request-id"] != "bad id\tinjected"
    assert len(response.headers["x-request-id"]) == 32


def test_404_and_405_are_problems(service: ServiceProcess) -> None:
    missing = httpx.get(f"{service.url}/v9/nothing")
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "instance": "/v9/nothing",
    }
    wrong = httpx.put(f"{service.url}/health/ready")
    assert wrong.status_code == 405
    assert {"GET", "HEAD"} == {method.strip() for method in wrong.headers["allow"].split(",")}
    assert wrong.json()["title"] == "Method Not Allowed"


def test_a_body_over_the_limit_is_413(service: ServiceProcess) -> None:
    response = httpx.post(f"{service.url}/health", content=b"x" * 4096)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_a_chunked_body_over_the_limit_is_413(service: ServiceProcess) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for _ in range(64):
            yield b"x" * 1024

    response = httpx.post(f"{service.url}/v1/brands", content=chunks())
    assert response.status_code == 413
    assert response.json()["detail"] == "the request body exceeds 2048 bytes"


def test_a_unicode_body_and_query_reach_the_app_intact(service: ServiceProcess) -> None:
    created = httpx.post(
        f"{service.url}/v1/brands", json={"name": "Café Noël", "keywords": ["café"]}
    )
    assert created.status_code == 201, created.text
    found = httpx.get(f"{service.url}/v1/brands", params={"q": "café"}).json()
    assert [brand["name"] for brand in found["items"]] == ["Café Noël"]


def in_flight(service: ServiceProcess) -> float:
    text = httpx.get(f"{service.url}/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    return families["orchestrator_http_requests_in_flight"].samples[0].value


def test_an_event_stream_arrives_in_parts_and_ends_when_its_client_leaves(
    service: ServiceProcess,
) -> None:
    with httpx.stream("GET", f"{service.url}/dashboard/live/system") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        parts = stream.iter_raw()
        assert next(parts) == b"retry: 1000\n\n"
        assert next(parts).startswith(b"event: update")  # sent while the stream stays open
        assert in_flight(service) == 2  # the stream and the scrape
    wait_until(lambda: in_flight(service) == 1, timeout_s=5, what="the stream to end")


def test_health_reports_the_original_fields(service: ServiceProcess) -> None:
    body = httpx.get(f"{service.url}/health").json()
    assert body["status"] == "ok"
    assert body["orchestratorId"]
    assert body["uptimeSec"] >= 0
    assert body["redis"]["status"] == "up"
    assert body["loops"]["redis-watch"]["alive"] is True


def test_metrics_parse_as_prometheus_text(service: ServiceProcess) -> None:
    httpx.get(f"{service.url}/health")
    response = httpx.get(f"{service.url}/metrics")
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert "process_cpu_seconds" in families
    requests = families["orchestrator_http_requests"]
    routes = {sample.labels["route"] for sample in requests.samples}
    assert "/health" in routes
    assert "unmatched" in routes or "/health/ready" in routes
    assert "/nowhere" not in routes  # templates, not raw paths
    latency = families["orchestrator_http_request_duration_seconds"]
    assert any(sample.name.endswith("_bucket") for sample in latency.samples)
    redis_latency = families["orchestrator_redis_command_duration_seconds"]
    assert any(sample.labels.get("operation") == "ping" for sample in redis_latency.samples)


def test_openapi_and_docs_are_served_offline(service: ServiceProcess) -> None:
    spec = httpx.get(f"{service.url}/openapi.json").json()
    assert {"/health", "/health/live", "/health/ready", "/metrics"} <= set(spec["paths"])
    docs = httpx.get(f"{service.url}/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "<script>" not in docs.text  # no inline script: the CSP stays strict
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/static/docs.js"):
        assert httpx.get(f"{service.url}{asset}").status_code == 200


def test_cors_allows_only_the_configured_origins(service: ServiceProcess) -> None:
    preflight = {"access-control-request-method": "GET"}
    allowed = httpx.options(
        f"{service.url}/health", headers={"origin": ALLOWED_ORIGIN, **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    denied = httpx.options(
        f"{service.url}/health", headers={"origin": "https://evil.example", **preflight}
    )
    assert denied.status_code == 400
    assert denied.headers["content-type"] == "application/problem+json"
    assert "Disallowed CORS origin" in denied.json()["detail"]
    assert "access-control-allow-origin" not in denied.headers
    simple = httpx.get(f"{service.url}/health", headers={"origin": ALLOWED_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
