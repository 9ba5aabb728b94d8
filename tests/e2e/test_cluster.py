"""The pipeline end to end on a Valkey Cluster (``tests.e2e.cluster_run``): every accepted mention
counted once, summaries and the original's keys published, the streams' three partitions all
used, no loop error, no slot refusal."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.cluster import ValkeyCluster
from tests.e2e.cluster_run import (
    PARTITIONED,
    PER_BRAND,
    demo_brands,
    demo_mentions,
    loop_errors,
    published,
    register_brands,
    start_run,
)
from tests.harness import ServiceProcess, wait_until


def send_demo(replicas: list[ServiceProcess]) -> dict[str, int]:
    """Register the demo brands and send their mentions through both replicas, a batch at a
    time with ten of the previous batch resent; the mentions accepted per brand."""
    accepted: dict[str, int] = {}
    for slug in register_brands(replicas):
        mentions = demo_mentions(slug, PER_BRAND)
        for start in range(0, len(mentions), 100):
            url = f"{replicas[start // 100 % 2].url}/v1/brands/{slug}/mentions"
            answer = httpx.post(url, json=mentions[max(0, start - 10) : start + 100], timeout=30)
            assert answer.status_code == 202, answer.text
            accepted[slug] = accepted.get(slug, 0) + answer.json()["accepted"]
    return accepted


def test_two_replicas_and_two_workers_count_every_accepted_mention_once_on_a_cluster(
    no_crossslot: ValkeyCluster, service_factory: Callable[..., ServiceProcess]
) -> None:
    cluster = no_crossslot
    cluster.flush()
    run = start_run(cluster, service_factory)
    replicas = run.replicas
    accepted = send_demo(replicas)
    assert accepted == {spec["slug"]: PER_BRAND for spec in demo_brands()}

    wait_until(
        lambda: run.summarized(accepted), timeout_s=120, what="every brand analysed and summarized"
    )
    for slug, count in accepted.items():
        assert replicas[0].get(f"/v1/brands/{slug}/aggregate").json()["totalMentions"] == count
    assert run.applied() == sum(count // 100 for count in accepted.values())  # each chunk once
    assert published(cluster) == ({slug.encode() for slug in accepted}, accepted)
    spread = {PARTITIONED.partition_for(slug).index for slug in accepted}
    assert len(spread) > 1  # the demo's brands travel on more than one partition
    streams = {s["name"] for s in replicas[0].get("/v1/tasks/stats").json()["streams"]}
    assert {PARTITIONED.partition(p).result_stream for p in range(3)} <= streams
    workers_seen = replicas[0].get("/v1/workers").json()["items"]
    assert [worker["state"] for worker in workers_seen] == ["alive", "alive"]

    for replica in replicas:  # no loop met an error on the cluster
        assert loop_errors(replica) == {}
    run.stop()
