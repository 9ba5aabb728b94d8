"""The pipeline on a Valkey Cluster, for the end-to-end cluster tests: two orchestrator replicas
(one given every node, one a single seed with ``REDIS_CLUSTER=true``) and two worker processes
running the reference analyze handler over the demo's brands and a part of their mentions, the
task and result streams in three partitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.keys import Keys
from tests.cluster import ValkeyCluster
from tests.harness import ServiceProcess

KEYS = Keys()
PARTITIONED = Keys(partitions=3)  # as every process of the run is configured (STREAM_PARTITIONS)
PER_BRAND = 400  # mentions of each demo brand: four full chunks of 100
FAST = {
    "SHUTDOWN_GRACE_SEC": "5",
    "SUMMARY_MIN_INTERVAL_SEC": "1",
    "SPIKE_GRACE_SEC": "0",
    "REGISTRY_SYNC_SEC": "1",
    "STREAM_PARTITIONS": "3",
}
_SLOT_REFUSALS = ("CROSSSLOT", "key slot", "CrossSlot")  # the server's, the client's


@dataclass(frozen=True)
class ClusterRun:
    replicas: list[ServiceProcess]
    workers: list[ServiceProcess]

    def summarized(self, expected: dict[str, int]) -> bool:
        """Every brand's summary counts the mentions ``expected`` of it."""
        for slug, count in expected.items():
            answer = self.replicas[1].get(f"/v1/brands/{slug}/summary")
            if answer.status_code != 200 or answer.json()["totalMentions"] != count:
                return False
        return True

    def applied(self) -> float:
        """Chunk results applied, over both replicas."""
        return sum(
            metric(replica, "orchestrator_results_applied_total") for replica in self.replicas
        )

    def exited(self) -> list[str]:
        """The last log line of each process that exited (none while every one runs)."""
        return [
            process.log.strip().rsplit("\n", 1)[-1]
            for process in [*self.replicas, *self.workers]
            if process.process is None or process.process.poll() is not None
        ]

    def stop(self) -> None:
        """Stop every process; each exits 0 and none logged a slot refusal."""
        for process in [*self.replicas, *self.workers]:
            assert process.stop() == 0, process.log
            for refusal in _SLOT_REFUSALS:
                assert refusal not in process.log


def start_run(
    cluster: ValkeyCluster,
    service_factory: Callable[..., ServiceProcess],
    env: dict[str, str] | None = None,
) -> ClusterRun:
    """Two replicas (``FAST`` settings and ``env``) ready, two analyze workers (``env``)
    started."""
    seeded = {"REDIS_URL": cluster.seed_url, "REDIS_CLUSTER": "true"}
    settings = {**FAST, **(env or {})}
    replicas = [
        service_factory({"REDIS_URL": cluster.url, "ORCHESTRATOR_ID": "r0", **settings}),
        service_factory({**seeded, "ORCHESTRATOR_ID": "r1", **settings}),
    ]
    partitions = {"STREAM_PARTITIONS": FAST["STREAM_PARTITIONS"]}
    workers = [
        service_factory(
            {"REDIS_URL": cluster.url, **partitions, **(env or {})},
            ("worker", "--kinds", "analyze"),
        )
        for _ in range(2)
    ]
    for replica in replicas:
        replica.wait_ready()
    return ClusterRun(replicas, workers)


def demo_brands() -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = json.loads(
        (resources.files("orchestrator.demo") / "brands.json").read_text()
    )
    return specs


def register_brands(replicas: list[ServiceProcess]) -> list[str]:
    """Register the demo brands, through each replica in turn; their slugs."""
    slugs = []
    for n, spec in enumerate(demo_brands()):
        assert httpx.post(f"{replicas[n % 2].url}/v1/brands", json=spec).status_code == 201
        slugs.append(spec["slug"])
    return slugs


def demo_mentions(slug: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    lines = (resources.files("orchestrator.demo") / "mentions.jsonl").read_text().splitlines()
    for line in filter(str.strip, lines):
        mention = json.loads(line)
        if mention.pop("brand") == slug:
            found.append(mention)
            if len(found) == count:
                break
    return found


def metric(service: ServiceProcess, name: str) -> float:
    for family in text_string_to_metric_families(service.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def loop_errors(replica: ServiceProcess) -> dict[str, str]:
    """The last error of each background loop that met one."""
    loops = replica.get("/health").json()["loops"]
    return {name: loop["lastError"] for name, loop in loops.items() if loop["errors"]}


def published(cluster: ValkeyCluster) -> tuple[set[bytes], dict[str, int]]:
    """``brands:list`` and each brand's mention count in ``summary:brand:{slug}``, as the
    platform's other services read them."""
    with redis.RedisCluster.from_url(cluster.seed_url) as client:
        listed = client.smembers(KEYS.brands_list)
        counts = {
            slug.decode(): json.loads(client.get(KEYS.legacy_summary(slug.decode())) or b"{}").get(
                "totalMentions", 0
            )
            for slug in listed
        }
    return listed, counts
