"""The service with an LLM endpoint configured: summaries come from the model, a failing
endpoint falls back to the grounded summary, and the API key never reaches the logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from redis import Redis as SyncRedis

from orchestrator.protocol import FIELD
from orchestrator.store.embedded import EmbeddedServer
from tests.collection import KEYS, chunk_result, report
from tests.harness import ServiceProcess, wait_until
from tests.llm_server import fake_llm

SECRET = "sk-e2e-never-in-a-log-7b1f"  # noqa: S105 - a test key


def add_result(store: SyncRedis, chunk: str, mention: str, quote: str) -> None:
    representatives = [{"id": mention, "text": quote}]
    clusters = [{"id": chunk, "mentions": [mention], "representatives": representatives}]
    result = chunk_result("nike", chunk, clusters=clusters)
    store.xadd(KEYS.partition(0).result_stream, {FIELD: report(result, "nike", task_id=chunk)})


def test_llm_summaries_in_a_service_process(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    with fake_llm() as llm:
        env = {
            "REDIS_URL": valkey.url,
            "SUMMARY_MIN_INTERVAL_SEC": "1",
            "LLM_BASE_URL": llm.url,
            "LLM_MODEL": "e2e-model",
            "LLM_API_KEY": SECRET,
            "LOG_LEVEL": "debug",
        }
        service = service_factory(env).wait_ready()
        body = {"name": "Nike", "slug": "nike", "keywords": ["nike"]}
        assert httpx.post(f"{service.url}/v1/brands", json=body).status_code == 201
        clusters = [
            {
                "id": "c1",
                "mentions": ["m1"],
                "representatives": [{"id": "m1", "text": "Fast shoes"}],
            }
        ]
        result = chunk_result("nike", "nike-1", clusters=clusters)
        store.xadd(KEYS.partition(0).result_stream, {FIELD: report(result, "nike", task_id="t1")})

        def published() -> dict[str, Any] | None:
            answer = httpx.get(f"{service.url}/v1/brands/nike/summary")
            return answer.json() if answer.status_code == 200 else None

        wait_until(lambda: (published() or {}).get("totalMentions") == 8, what="a summary")
        summary = published()
        assert summary is not None
        assert summary["provider"] == "llm:e2e-model"
        assert summary["highlights"][0]["mentionIds"] == ["m1"]

        llm.default = "500"
        add_result(store, "nike-2", "m2", "Slow delivery")  # a new prompt: no cached answer
        wait_until(lambda: (published() or {}).get("totalMentions") == 16, what="a summary")
        refreshed = httpx.post(f"{service.url}/v1/brands/nike/summary/refresh").json()
        assert refreshed["provider"] == "grounded"
        assert refreshed["fallbackReason"] == "http_error: HTTP 500"
        metrics = httpx.get(f"{service.url}/metrics").text
        assert 'orchestrator_summary_llm_fallbacks_total{reason="http_error"}' in metrics
        assert f"Bearer {SECRET}" in llm.authorizations
        service.stop()
        log = service.log
        assert "summary.llm_fallback" in log  # the log is there, and the key is not in it
        assert SECRET not in log
