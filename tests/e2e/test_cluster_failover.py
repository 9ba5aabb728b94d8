"""A primary of the Valkey Cluster killed mid-run (``tests.e2e.cluster_run``): its replica takes
over, the service rides through, the run completes, and no acknowledged mention is lost.

The service and workers run with ``REDIS_WAIT_REPLICAS=1`` (docs/cluster-failover.md): a mention
is answered 202, a result published and an applied result acknowledged only once a replica
holds the write. So the loss the documented window allows is none, and the test measures it:
the mentions acknowledged (in a 202 answer) against the mentions counted in the aggregates.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import structlog

from orchestrator.store.embedded import EmbeddedServer
from tests.cluster import ValkeyCluster
from tests.e2e.cluster_run import (
    KEYS,
    PARTITIONED,
    PER_BRAND,
    ClusterRun,
    demo_mentions,
    published,
    register_brands,
    start_run,
)
from tests.harness import ServiceProcess, wait_until

log = structlog.get_logger(__name__)

DURABLE = {
    "REDIS_WAIT_REPLICAS": "1",
    "REDIS_WAIT_TIMEOUT_MS": "500",
    "RESULT_CLAIM_IDLE_SEC": "2",  # results a failed step left pending are taken up again soon
}
BATCH = 50  # mentions per request; the last ten of the previous batch are sent again
Batch = tuple[str, list[dict[str, Any]]]  # a brand and some of its mentions


class Producer:
    """Sends batches of mentions through both replicas in turn; a batch not answered 202 (an
    outage) is sent again, after a pause, until it is. Remembers the id of every mention a 202
    acknowledged, and the status of every answer that was not 202."""

    def __init__(self, replicas: list[ServiceProcess]) -> None:
        self.replicas = replicas
        self.acknowledged: dict[str, set[str]] = {}
        self.refused: Counter[int] = Counter()
        self.failure: BaseException | None = None
        self._turn = 0

    def send(self, batches: list[Batch]) -> None:
        for slug, batch in batches:
            while self.post(slug, batch) != 202:
                time.sleep(0.1)

    def in_background(self, batches: list[Batch]) -> threading.Thread:
        def send() -> None:
            try:
                self.send(batches)
            except BaseException as exc:  # the test fails on it after join()
                self.failure = exc
                raise

        thread = threading.Thread(target=send, name="producer", daemon=True)
        thread.start()
        return thread

    def post(self, slug: str, batch: list[dict[str, Any]]) -> int:
        self._turn += 1
        url = f"{self.replicas[self._turn % 2].url}/v1/brands/{slug}/mentions"
        try:
            answer = httpx.post(url, json=batch, timeout=30)
        except httpx.TransportError:
            self.refused[599] += 1
            return 599
        if answer.status_code != 202:
            assert answer.status_code == 503, answer.text  # an outage, nothing else
            self.refused[answer.status_code] += 1
            return answer.status_code
        assert answer.json()["rejected"] == []
        self.acknowledged.setdefault(slug, set()).update(mention["id"] for mention in batch)
        return 202


def batches_of(slugs: list[str]) -> list[Batch]:
    """Each brand's mentions in batches, the brands taking turns."""
    mentions = {slug: demo_mentions(slug, PER_BRAND) for slug in slugs}
    return [
        (slug, mentions[slug][max(0, start - 10) : start + BATCH])
        for start in range(0, PER_BRAND, BATCH)
        for slug in slugs
    ]


def busiest_primary(cluster: ValkeyCluster, slugs: list[str]) -> EmbeddedServer:
    """The primary serving most of the pipeline's hash slots: results, tasks, the registry,
    the brands."""
    streams = [(p.result_stream, p.task_stream("analyze")) for p in PARTITIONED.all_partitions]
    keys = [*(key for pair in streams for key in pair), KEYS.brand_docs]
    owners = Counter(cluster.primary_of(key) for key in keys + list(map(KEYS.aggregate, slugs)))
    return owners.most_common(1)[0][0]


def recovered(replica: ServiceProcess) -> bool:
    """Every background loop of ``replica`` runs, and its latest step succeeded."""
    loops = replica.get("/health").json()["loops"].values()
    return all(
        loop["alive"] and (loop["lastErrorAt"] or 0) < (loop["lastStepAt"] or 0) for loop in loops
    )


def outage_errors(run: ClusterRun) -> int:
    return sum(
        loop["errors"]
        for replica in run.replicas
        for loop in replica.get("/health").json()["loops"].values()
    )


def test_a_primary_killed_mid_run_loses_no_acknowledged_mention(
    whole_cluster: ValkeyCluster,
    no_crossslot: ValkeyCluster,
    service_factory: Callable[..., ServiceProcess],
) -> None:
    cluster = whole_cluster
    cluster.flush()
    run = start_run(cluster, service_factory, DURABLE)
    slugs = register_brands(run.replicas)
    victim = busiest_primary(cluster, slugs)
    on_victim = [slug for slug in slugs if cluster.primary_of(KEYS.aggregate(slug)) is victim]
    assert on_victim, "the victim serves a brand's slot (the demo's brands and three primaries)"
    brand = on_victim[0]
    successor = cluster.replica_of(victim)
    batches = batches_of(slugs)
    producer = Producer(run.replicas)
    producer.send(batches[: len(batches) // 2])
    wait_until(lambda: run.applied() > 0, timeout_s=60, what="results applied: mid-run")

    killed_at = time.monotonic()
    cluster.kill(victim)
    sending = producer.in_background(batches[len(batches) // 2 :])
    wait_until(  # every primary is pinged: one gone, not ready
        lambda: all(replica.get("/health/ready").status_code == 503 for replica in run.replicas),
        what="readiness to report the outage",
    )
    cluster.wait_promoted(successor)
    promoted_s = time.monotonic() - killed_at
    for replica in run.replicas:  # the successor serves: ready again, the victim still down
        replica.wait_ready()
    ready_s = time.monotonic() - killed_at
    # The victim's slots have a primary again, but no replica yet: a write there is stored and
    # not confirmed, so not acknowledged. The producer sends it again once it can be.
    probe = (brand, demo_mentions(brand, PER_BRAND + 1)[-1:])
    assert producer.post(*probe) == 503
    restarted_at = time.monotonic()
    cluster.restart_killed()  # the victim rejoins, as the replica of its successor
    rejoined_s, restored_at = time.monotonic() - restarted_at, time.time()
    producer.send([probe])
    sending.join(timeout=60)
    assert not sending.is_alive()
    assert producer.failure is None
    assert run.exited() == []  # no process exited: replicas and workers rode it out

    acknowledged = {slug: len(ids) for slug, ids in producer.acknowledged.items()}
    assert acknowledged == {slug: PER_BRAND + (slug == brand) for slug in slugs}
    wait_until(lambda: run.summarized(acknowledged), timeout_s=60, what="every brand summarized")
    aggregates = {
        slug: run.replicas[0].get(f"/v1/brands/{slug}/aggregate").json() for slug in slugs
    }
    counted = {slug: aggregate["totalMentions"] for slug, aggregate in aggregates.items()}
    log.info(
        "failover.measured",
        victim=victim.url,
        brand_on_victim=brand,
        acknowledged=sum(acknowledged.values()),
        counted=sum(counted.values()),
        lost=sum(acknowledged.values()) - sum(counted.values()),
        refused=dict(producer.refused),
        promoted_after_s=round(promoted_s, 2),
        ready_after_s=round(ready_s, 2),
        rejoined_in_s=round(rejoined_s, 2),
    )
    assert counted == acknowledged  # nothing acknowledged was lost, nothing counted twice
    for slug, aggregate in aggregates.items():  # every chunk applied, and summarized since
        assert aggregate["pendingChunks"] == 0
        summary = run.replicas[1].get(f"/v1/brands/{slug}/summary").json()
        assert summary["basedOn"]["chunks"] == aggregate["totalChunks"]
        assert datetime.fromisoformat(summary["generatedAt"]).timestamp() > restored_at
    assert published(cluster) == ({slug.encode() for slug in slugs}, counted)

    assert outage_errors(run) > 0  # the loops did meet the outage...
    wait_until(  # ...and every one of them is back
        lambda: all(map(recovered, run.replicas)), what="every loop to recover"
    )
    workers = run.replicas[0].get("/v1/workers").json()["items"]
    assert [worker["state"] for worker in workers] == ["alive", "alive"]
    run.stop()
