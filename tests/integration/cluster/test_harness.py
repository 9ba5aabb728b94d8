"""The test cluster itself: its shape, the service's client on it, and the CROSSSLOT check."""

from __future__ import annotations

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.metrics import Metrics
from orchestrator.store.connection import count_keys, is_cluster, ping
from tests.cluster import ValkeyCluster


def test_three_primaries_each_with_a_replica(valkey_cluster: ValkeyCluster) -> None:
    roles = [client.info("replication")["role"] for _, client in valkey_cluster.clients()]
    assert sorted(roles) == ["master"] * 3 + ["slave"] * 3


async def test_the_service_client_spans_every_primary(
    redis: Redis, valkey_cluster: ValkeyCluster
) -> None:
    assert is_cluster(redis)
    for n in range(30):
        await redis.set(f"key-{n}", n)
    per_primary = [client.dbsize() for _, client in valkey_cluster.clients()]
    assert all(count > 0 for count in per_primary)  # spread over the slots of every primary
    settings = Settings(redis_url=valkey_cluster.url)
    assert await count_keys(settings, valkey_cluster.url) == 30
    seeded = Settings(redis_url=valkey_cluster.seed_url, redis_cluster=True)  # one seed
    assert await count_keys(seeded, valkey_cluster.seed_url) == 30
    assert await ping(redis, Metrics(), 2.0) > 0


def test_a_crossslot_reply_is_counted(valkey_cluster: ValkeyCluster) -> None:
    before = valkey_cluster.crossslot_errors()
    node = valkey_cluster.nodes[0]
    with sync_redis.Redis(node.host, node.port) as client, pytest.raises(sync_redis.ResponseError):
        client.execute_command("MGET", "a", "b", "c")  # three slots: CROSSSLOT on any node
    assert valkey_cluster.crossslot_errors() == before + 1
