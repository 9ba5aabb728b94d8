"""The whole pipeline on one machine: ``orchestrator run --demo`` registers the demo brands,
streams their mentions in, its workers analyse them, and every mention is counted once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from importlib import resources

import httpx
import pytest
from redis import Redis as SyncRedis

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, wait_until


def dataset() -> Counter[str]:
    lines = (resources.files("orchestrator.demo") / "mentions.jsonl").read_text().splitlines()
    return Counter(json.loads(line)["brand"] for line in lines if line.strip())


@pytest.mark.timeout(420)  # 10,308 mentions through two workers: about 45 s on an idle machine
def test_the_demo_is_analysed_end_to_end(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    env = {"REDIS_URL": valkey.url, "SPIKE_GRACE_SEC": "0", "SHUTDOWN_GRACE_SEC": "5"}
    service = service_factory(env, args=("run", "--demo", "--workers", "2")).wait_ready()
    expected = dataset()
    assert len(expected) == 3
    assert sum(expected.values()) >= 3_000

    def totals() -> dict[str, int]:
        found = {}
        for brand in expected:
            answer = httpx.get(f"{service.url}/v1/brands/{brand}/aggregate", timeout=5)
            found[brand] = answer.json()["totalMentions"] if answer.status_code == 200 else -1
        return found

    wait_until(lambda: totals() == dict(expected), timeout_s=300, what="every mention analysed")
    wait_until(
        lambda: bool(httpx.get(f"{service.url}/v1/brands/quillfern/aggregate").json()["spikes"]),
        timeout_s=60,
        what="the recall found",
    )
    spiking = httpx.get(f"{service.url}/v1/brands/quillfern/aggregate").json()
    calm = [
        httpx.get(f"{service.url}/v1/brands/{b}/aggregate").json() for b in ("tamsrow", "orrindale")
    ]
    spikes = spiking["spikes"]
    assert [s["at"][:13] for s in spikes] == ["2026-11-27T14"]  # the recall, and nothing else
    assert not any(view["spikes"] for view in calm)
    assert spiking["sentiment"]["negative"] > 0
    assert spiking["clusters"]
    assert httpx.get(f"{service.url}/v1/failed").json()["items"] == []

    def summarized() -> bool:  # every brand's published summary counts every accepted mention
        for brand, count in expected.items():
            answer = httpx.get(f"{service.url}/v1/brands/{brand}/summary", timeout=5)
            if answer.status_code != 200 or answer.json()["totalMentions"] != count:
                return False
        return True

    wait_until(summarized, timeout_s=90, what="every brand summarized")
    recall = json.loads(store.get("summary:brand:quillfern") or b"{}")  # the original's key
    assert recall["provider"] == "grounded"
    assert recall["spikeDetected"]
    assert "spike on 27 Nov 14:00 UTC" in recall["headline"]
