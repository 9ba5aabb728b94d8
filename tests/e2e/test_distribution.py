"""Task distribution with real processes: orchestrator replicas, workers, kills and signals."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis as SyncRedis

from orchestrator.keys import Keys
from orchestrator.store.embedded import EmbeddedServer
from orchestrator.types import text
from tests.harness import ServiceProcess, WorkerProcess, wait_until

KEYS = Keys()
LEASE_SEC = 1.0
FAST = {
    "LEADER_LEASE_SEC": str(LEASE_SEC),
    "RESULT_CLAIM_IDLE_SEC": "2",
    "TASK_MAX_ATTEMPTS": "3",
    "SHUTDOWN_GRACE_SEC": "5",
}


def add_brand(service: ServiceProcess, slug: str, mentions: int, **spec: Any) -> None:
    body = {"name": slug, "keywords": [slug], **spec}
    assert httpx.post(f"{service.url}/v1/brands", json=body).status_code == 201
    if mentions:
        send_mentions(service, slug, mentions)


def send_mentions(service: ServiceProcess, slug: str, count: int) -> None:
    """Through the API, as producers do (which makes the brand due at once)."""
    body = [{"id": f"{slug}-{i}", "text": f"{slug} mention {i}"} for i in range(count)]
    sent = httpx.post(f"{service.url}/v1/brands/{slug}/mentions", json=body)
    assert sent.status_code == 202, sent.text
    assert sent.json()["accepted"] == count


def handled(store: SyncRedis) -> dict[str, int]:
    return {text(k): int(v) for k, v in store.hgetall("test:handled").items()}


def stats(service: ServiceProcess) -> dict[str, Any]:
    body: dict[str, Any] = service.get("/v1/tasks/stats").json()
    return body


def settled(store: SyncRedis, slug: str) -> bool:
    """Every cut chunk applied and nothing in flight."""
    return store.hlen(KEYS.pending_chunks(slug)) == 0 and not store.hgetall(
        KEYS.partition(0).task_in_flight
    )


def counted(service: ServiceProcess, family_name: str, kind: str) -> float:
    """A counter's total for one task kind, from the service's /metrics."""
    for family in text_string_to_metric_families(service.get("/metrics").text):
        if family.name == family_name:
            return sum(
                sample.value
                for sample in family.samples
                if sample.labels.get("kind") == kind and sample.name.endswith("_total")
            )
    return 0.0


def completed(service: ServiceProcess, kind: str) -> float:
    return counted(service, "orchestrator_tasks_completed", kind)


@pytest.fixture
def service(
    valkey: EmbeddedServer, service_factory: Callable[..., ServiceProcess]
) -> ServiceProcess:
    """One orchestrator on the session server, with short leases and claim times."""
    return service_factory({"REDIS_URL": valkey.url, **FAST}).wait_ready()


def test_a_task_of_a_killed_worker_is_completed_by_another_exactly_once(
    service: ServiceProcess,
    store: SyncRedis,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    store.set("test:hold", 1)
    add_brand(service, "nike", 10, chunkSize=5, maxInFlight=1)
    first = worker_factory("--visibility-timeout", "1")
    wait_until(lambda: store.scard("test:started") == 1, what="the first chunk to be in flight")
    first.stop(signal.SIGKILL)
    store.delete("test:hold")
    worker_factory("--visibility-timeout", "1")
    wait_until(
        lambda: len(handled(store)) == 2 and settled(store, "nike"),
        timeout_s=30,
        what="both chunks",
    )
    assert handled(store) == {"nike-1": 1, "nike-2": 1}
    wait_until(lambda: completed(service, "analyze") == 2, what="two results applied")


def test_mentions_sent_to_an_idle_brand_are_analysed_at_once(
    service: ServiceProcess,
    store: SyncRedis,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    add_brand(service, "nike", 0, chunkSize=5)  # scheduleIntervalSec: 300
    wait_until(
        lambda: (store.zscore(KEYS.brand_due, "nike") or 0) > time.time() * 1000 + 60_000,
        what="the scheduler to find nothing to cut and look again in 5 minutes",
    )
    send_mentions(service, "nike", 5)
    worker_factory()
    wait_until(
        lambda: handled(store) == {"nike-1": 1} and settled(store, "nike"),
        what="the mentions analysed well before the brand's interval",
    )


def test_one_leader_dispatches_and_another_takes_over_when_it_dies(
    valkey: EmbeddedServer,
    store: SyncRedis,
    service_factory: Callable[..., ServiceProcess],
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    replicas = {
        name: service_factory(
            {"REDIS_URL": valkey.url, "ORCHESTRATOR_ID": name, **FAST}
        ).wait_ready()
        for name in ("replica-a", "replica-b")
    }
    leader = wait_until(
        lambda: stats(replicas["replica-a"])["leader"]["orchestratorId"], what="a leader"
    )
    fence = stats(replicas["replica-a"])["leader"]["fence"]
    follower = "replica-b" if leader == "replica-a" else "replica-a"
    store.set("test:hold", 1)
    add_brand(replicas[leader], "nike", 40, chunkSize=5, maxInFlight=2)
    worker_factory("--visibility-timeout", "2")
    wait_until(lambda: store.scard("test:started") == 2, what="two chunks in flight")
    assert counted(replicas[leader], "orchestrator_tasks_dispatched", "analyze") == 2
    assert counted(replicas[follower], "orchestrator_tasks_dispatched", "analyze") == 0

    replicas[leader].stop(signal.SIGKILL)
    store.delete("test:hold")
    took_over = wait_until(
        lambda: (s := stats(replicas[follower])["leader"])["orchestratorId"] == follower and s,
        timeout_s=2 * LEASE_SEC + 8,  # the lease expires in 1 s; slack for a loaded machine
        what="the follower to take the lease",
    )
    assert took_over["fence"] > fence
    wait_until(
        lambda: len(handled(store)) == 8 and settled(store, "nike"), timeout_s=40, what="all chunks"
    )
    assert handled(store) == {f"nike-{i}": 1 for i in range(1, 9)}


def test_a_failing_task_is_retried_dead_lettered_and_redriven(
    service: ServiceProcess,
    store: SyncRedis,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    store.set("test:fail", 1)
    add_brand(service, "nike", 5, chunkSize=5)
    worker_factory("--visibility-timeout", "2")

    def dead_letters() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get("/v1/tasks/dead").json()["items"]
        return items

    (letter,) = wait_until(dead_letters, timeout_s=30, what="the task to be dead-lettered")
    assert letter["attempts"] == 3
    assert letter["error"]["type"] == "RuntimeError"
    assert letter["brand"] == "nike"
    assert letter["task"]["payload"]["chunkId"] == "nike-1"
    assert handled(store) == {}

    store.delete("test:fail")
    retried = httpx.post(f"{service.url}/v1/tasks/dead/{letter['taskId']}/retry")
    assert retried.status_code == 200, retried.text
    wait_until(
        lambda: handled(store) == {"nike-1": 1} and settled(store, "nike"),
        what="the re-driven task",
    )
    assert dead_letters() == []
    assert httpx.post(f"{service.url}/v1/tasks/dead/{letter['taskId']}/retry").status_code == 404


def test_sigterm_lets_the_tasks_in_flight_finish(
    service: ServiceProcess,
    store: SyncRedis,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    store.set("test:hold", 1)
    add_brand(service, "nike", 10, chunkSize=5, maxInFlight=2)
    worker = worker_factory()
    wait_until(lambda: store.scard("test:started") == 2, what="two chunks in flight")
    worker.process.send_signal(signal.SIGTERM)  # one signal: stop claiming, finish in flight
    store.delete("test:hold")
    assert worker.process.wait(20) == 0
    assert handled(store) == {"nike-1": 1, "nike-2": 1}
    wait_until(lambda: settled(store, "nike"), what="both results applied")
    workers = service.get("/v1/workers").json()["items"]
    assert [w["state"] for w in workers] == ["gone"]
