"""Confirmed writes on a Valkey Cluster: each ``WAIT`` goes to the primary holding the writes it
confirms, on their connection, so a replica that cannot confirm (stopped) fails the writes of
its own primary's slots and no others."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from orchestrator.errors import NotReplicatedError
from orchestrator.keys import Keys
from orchestrator.mentions import MentionStore
from orchestrator.store.durability import Durability
from tests.cluster import ValkeyCluster
from tests.harness import stopped

KEYS = Keys()


def brand_per_primary(cluster: ValkeyCluster) -> dict[str, str]:
    """A brand slug served by each primary (by port), found among a few candidates."""
    found: dict[str, str] = {}
    for n in range(100):
        slug = f"brand-{n}"
        found.setdefault(str(cluster.primary_of(KEYS.mentions(slug)).port), slug)
    assert len(found) == 3
    return found


async def test_every_primary_written_to_confirms_its_own_writes(
    redis: Redis, no_crossslot: ValkeyCluster
) -> None:
    brands = brand_per_primary(no_crossslot)
    durability = Durability(redis, 1, 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for slug in brands.values():
            pipe.xadd(KEYS.mentions(slug), {"m": b"{}"})
        replies = await durability.execute(pipe, map(KEYS.mentions, brands.values()))
    assert len(replies) == 3  # the WAITs' replies are not among them
    held = [
        client.dbsize()
        for _, client in no_crossslot.clients()
        if client.info("replication")["role"] == "slave"
    ]
    assert held == [1, 1, 1]  # each replica holds its primary's stream already


async def test_a_replica_that_cannot_confirm_fails_its_primarys_writes_only(
    redis: Redis, no_crossslot: ValkeyCluster
) -> None:
    cluster = no_crossslot
    brands = brand_per_primary(cluster)
    port, slug = next(iter(brands.items()))
    store = MentionStore(redis, KEYS, durability=Durability(redis, 1, 100))
    item = [json.dumps({"id": "a", "text": "a"}).encode()]
    primary = cluster.primary_of(KEYS.mentions(slug))
    with stopped(cluster.replica_of(primary)):
        with pytest.raises(NotReplicatedError, match=f"127.0.0.1:{port}: 0 of 1"):
            await store.ingest(slug, item)
        for other in brands.values():
            if other != slug:
                assert (await store.ingest(other, item)).accepted == 1
    assert (await store.ingest(slug, item)).duplicates == 1  # stored the first time all the same
