"""The demo, once per session: ``orchestrator run --demo --workers 2`` on a server of its own,
fully analysed and summarized (about 45 s), shared by the demo's end-to-end test and the
browser tests. Tests may add to it (dead letters, summaries) but not change its mentions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources

import httpx
import pytest
from redis import Redis as SyncRedis

from orchestrator.demo.generate import RECALL_START, START
from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, wait_until

API_KEY = "browser-test-key"


def demo_brands() -> dict[str, str]:
    """slug → name of every demo brand."""
    raw = (resources.files("orchestrator.demo") / "brands.json").read_text()
    return {spec["slug"]: spec["name"] for spec in json.loads(raw)}


def demo_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    lines = (resources.files("orchestrator.demo") / "mentions.jsonl").read_text().splitlines()
    for line in filter(str.strip, lines):
        brand = json.loads(line)["brand"]
        counts[brand] = counts.get(brand, 0) + 1
    return counts


@pytest.fixture(scope="session")
def demo_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of the demo's own: the rest of the suite flushes the session's."""
    server = EmbeddedServer(tmp_path_factory.mktemp("dashboard-valkey"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_valkey: EmbeddedServer
) -> Iterator[ServiceProcess]:
    """``orchestrator run --demo --workers 2`` with ``API_KEY`` set, once every demo mention
    is analysed and every brand summarized (about 45 s)."""
    env = {
        "REDIS_URL": demo_valkey.url,
        "API_KEY": API_KEY,
        "SPIKE_GRACE_SEC": "0",
        "SUMMARY_MIN_INTERVAL_SEC": "2",  # the last summary soon after the last result
        "SHUTDOWN_GRACE_SEC": "5",
    }
    workdir = tmp_path_factory.mktemp("dashboard-service")
    service = ServiceProcess(workdir, env, ("run", "--demo", "--workers", "2")).start()
    try:
        service.wait_ready()
        expected = demo_counts()

        def summarized() -> bool:
            for brand, count in expected.items():
                answer = service.get(f"/v1/brands/{brand}/summary")
                if answer.status_code != 200 or answer.json()["totalMentions"] != count:
                    return False
            return True

        wait_until(summarized, timeout_s=240, what="every demo brand analysed and summarized")
        wait_until(
            lambda: httpx.get(f"{service.url}/v1/brands/quillfern/aggregate").json()["spikes"],
            timeout_s=60,
            what="the recall spike",
        )
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def demo_store(demo_valkey: EmbeddedServer) -> Iterator[SyncRedis]:
    with SyncRedis.from_url(demo_valkey.url) as client:
        yield client


@pytest.fixture(scope="session")
def demo_recall(demo: ServiceProcess) -> datetime:
    """When the recall's spike begins in the demo as the service loaded it: its days move
    forward to end the day before the load (orchestrator.demo.load), read back from the first
    day of volume, so a session that crosses midnight sees the day the service used."""
    since = f"{START - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
    timeline = demo.get(f"/v1/brands/tamsrow/timeline?bucket=1d&from={since}").json()
    first = min(datetime.fromisoformat(p["at"]) for p in timeline["points"] if p["volume"])
    return RECALL_START + timedelta(days=(first.date() - START.date()).days)
