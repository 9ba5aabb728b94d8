"""Mentions against a real server: deduplication in one script, and retention that never drops
a mention before it is analysed."""

from __future__ import annotations

import json
import time
from typing import cast

import anyio
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.mentions import MentionSettings, MentionStore
from orchestrator.schedule import Cadence

KEYS = Keys()


async def entry_ids(redis: Redis) -> list[str]:
    entries = cast(list[tuple[bytes, object]], await redis.xrange(KEYS.mentions("nike")))
    return [entry_id.decode() for entry_id, _ in entries]


def items(*ids: str) -> list[bytes]:
    return [json.dumps({"id": i, "text": f"nike {i}"}).encode() for i in ids]


async def test_duplicates_within_one_request_and_across_requests(redis: Redis) -> None:
    store = MentionStore(redis, KEYS)
    first = await store.ingest("nike", items("a", "b", "a"))
    second = await store.ingest("nike", items("b", "c"))
    assert (first.accepted, first.duplicates) == (2, 1)
    assert (second.accepted, second.duplicates) == (1, 1)
    assert await redis.xlen(KEYS.mentions("nike")) == 3


async def test_new_mentions_make_their_brand_due_when_they_can_be_cut(redis: Redis) -> None:
    store = MentionStore(redis, KEYS)
    cadence = Cadence(chunk_size=10, interval_ms=300_000)
    now_ms = int(time.time() * 1000)
    later = now_ms + 300_000  # the scheduler found nothing to cut: due again in 5 minutes

    async def due(slug: str) -> float | None:
        return await redis.zscore(KEYS.brand_due, slug)

    await redis.zadd(KEYS.brand_due, {"nike": later, "adidas": later})
    await store.ingest("nike", items("a"), cadence)  # never cut: at once
    assert (await due("nike") or later) <= time.time() * 1000
    await store.ingest("adidas", [b'{"id": "x"}'], cadence)  # rejected: no text
    assert await due("adidas") == later

    last_cut_ms = now_ms - 100_000
    await redis.hset(KEYS.schedule_state("nike"), mapping={"cutAt": last_cut_ms, "uncut": 0})
    await redis.zadd(KEYS.brand_due, {"nike": later})
    await store.ingest("nike", items("b", "c", "d"), cadence)  # 3 of 10, within the interval
    assert await due("nike") == last_cut_ms + 300_000
    assert (await store.ingest("nike", items("b"), cadence)).duplicates == 1
    assert await due("nike") == last_cut_ms + 300_000  # nothing new
    await store.ingest("nike", items(*"efghijk"), cadence)  # 10: a full chunk waits
    assert (await due("nike") or later) <= time.time() * 1000

    await redis.zadd(KEYS.brand_due, {"nike": later})
    await store.ingest("nike", items("l"))  # a collect task's: its completion wakes the brand
    assert await due("nike") == later
    await store.ingest("puma", items("a"), cadence)  # not in the index (paused, or deleted)
    assert await due("puma") is None


async def test_ids_are_forgotten_after_the_dedup_window(redis: Redis) -> None:
    store = MentionStore(redis, KEYS, MentionSettings(dedup_window_s=0.001))
    await store.ingest("nike", items("a"))
    await redis.hdel(KEYS.expected("nike"), "trimAt")  # the hourly trim is due now
    await anyio.sleep(0.01)
    await store.ingest("nike", items("b"))
    assert await redis.zrange(KEYS.mention_ids("nike"), 0, -1) == [b"b"]


async def test_retention_keeps_what_is_not_analysed(redis: Redis) -> None:
    store = MentionStore(redis, KEYS, MentionSettings(retention_s=0))
    await store.ingest("nike", items(*(f"m{n}" for n in range(10))))
    ids = await entry_ids(redis)
    assert await store.trim(["nike"]) == 0  # nothing cut into a chunk yet: nothing goes
    # The scheduler cut m0..m5 into two chunks; the first (m0..m2) was applied.
    await redis.hset(KEYS.schedule_state("nike"), "cut", ids[5])
    pending = {"chunkId": "nike-2", "fromId": ids[3], "toId": ids[5], "count": 3}
    await redis.hset(KEYS.pending_chunks("nike"), "nike-2", json.dumps(pending))
    assert await store.trim(["nike"]) == 3
    left = await entry_ids(redis)
    assert left == ids[3:]  # the pending chunk and the uncut rest stay
    await redis.hdel(KEYS.pending_chunks("nike"), "nike-2")
    assert await store.trim(["nike"]) == 3
    assert await redis.xlen(KEYS.mentions("nike")) == 4
