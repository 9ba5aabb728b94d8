"""The pipeline end to end on a Valkey Cluster: two orchestrator replicas (one given every node,
one a single seed with ``REDIS_CLUSTER=true``) and two worker processes running the reference
analyze handler over the demo's brands and a part of its mentions, the task and result streams
in three partitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.keys import Keys
from tests.cluster import ValkeyCluster
from tests.harness import ServiceProcess, wait_until

KEYS = Keys()
PER_BRAND = 400  # mentions of each demo brand: four full chunks of 100, cut at once
FAST = {
    "SHUTDOWN_GRACE_SEC": "5",
    "SUMMARY_MIN_INTERVAL_SEC": "1",
    "SPIKE_GRACE_SEC": "0",
    "REGISTRY_SYNC_SEC": "1",
    "STREAM_PARTITIONS": "3",
}
PARTITIONED = Keys(partitions=3)


def demo_brands() -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = json.loads(
        (resources.files("orchestrator.demo") / "brands.json").read_text()
    )
    return specs


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


def send_demo(replicas: list[ServiceProcess]) -> dict[str, int]:
    """Register the demo brands and send their mentions through both replicas, a batch at a
    time with ten of the previous batch resent; the mentions accepted per brand."""
    accepted: dict[str, int] = {}
    for n, spec in enumerate(demo_brands()):
        slug = spec["slug"]
        assert httpx.post(f"{replicas[n % 2].url}/v1/brands", json=spec).status_code == 201
        mentions = demo_mentions(slug, PER_BRAND)
        for start in range(0, len(mentions), 100):
            url = f"{replicas[start // 100 % 2].url}/v1/brands/{slug}/mentions"
            answer = httpx.post(url, json=mentions[max(0, start - 10) : start + 100], timeout=30)
            assert answer.status_code == 202, answer.text
            accepted[slug] = accepted.get(slug, 0) + answer.json()["accepted"]
    return accepted


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


def test_two_replicas_and_two_workers_count_every_accepted_mention_once_on_a_cluster(
    no_crossslot: ValkeyCluster, service_factory: Callable[..., ServiceProcess]
) -> None:
    cluster = no_crossslot
    cluster.flush()
    seeded = {"REDIS_URL": cluster.seed_url, "REDIS_CLUSTER": "true"}
    replicas = [
        service_factory({"REDIS_URL": cluster.url, "ORCHESTRATOR_ID": "r0", **FAST}),
        service_factory({**seeded, "ORCHESTRATOR_ID": "r1", **FAST}),
    ]
    workers = [
        service_factory(
            {"REDIS_URL": cluster.url, "STREAM_PARTITIONS": "3"}, ("worker", "--kinds", "analyze")
        )
        for _ in range(2)
    ]
    for replica in replicas:
        replica.wait_ready()
    accepted = send_demo(replicas)
    assert accepted == {spec["slug"]: PER_BRAND for spec in demo_brands()}

    def summarized() -> bool:
        for slug, count in accepted.items():
            answer = replicas[1].get(f"/v1/brands/{slug}/summary")
            if answer.status_code != 200 or answer.json()["totalMentions"] != count:
                return False
        return True

    wait_until(summarized, timeout_s=120, what="every brand analysed and summarized")
    for slug, count in accepted.items():
        assert replicas[0].get(f"/v1/brands/{slug}/aggregate").json()["totalMentions"] == count
    applied = [metric(replica, "orchestrator_results_applied_total") for replica in replicas]
    assert sum(applied) == sum(count // 100 for count in accepted.values())  # each chunk once
    assert published(cluster) == ({slug.encode() for slug in accepted}, accepted)
    spread = {PARTITIONED.partition_for(slug).index for slug in accepted}
    assert len(spread) > 1  # the demo's brands travel on more than one partition
    streams = {s["name"] for s in replicas[0].get("/v1/tasks/stats").json()["streams"]}
    assert {PARTITIONED.partition(p).result_stream for p in range(3)} <= streams
    workers_seen = replicas[0].get("/v1/workers").json()["items"]
    assert [worker["state"] for worker in workers_seen] == ["alive", "alive"]

    for replica in replicas:  # no loop met an error on the cluster
        loops = replica.get("/health").json()["loops"]
        assert {name: loop["lastError"] for name, loop in loops.items() if loop["errors"]} == {}
    for process in [*replicas, *workers]:
        assert process.stop() == 0
        for refusal in ("CROSSSLOT", "key slot", "CrossSlot"):  # the server's, the client's
            assert refusal not in process.log
