"""The in-process copy of published summaries: a new summary announced by any replica is
served at once, an unannounced write within the cache's age, and nothing is served from memory
while the announcements cannot be heard."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.summary_cache import SummaryCache, etag_of

KEYS = Keys()
KEY = "summary:brand:nike"


@pytest.fixture(autouse=True)
async def registered(redis: Redis) -> None:
    await redis.hset(KEYS.brand_docs, "nike", "{}")  # only registered brands are served


async def announce(redis: Redis, document: bytes) -> None:
    await redis.set(KEY, document)
    await redis.publish(KEYS.summary_channel, "nike")


async def served(cache: SummaryCache) -> bytes | None:
    entry = await cache.get("nike")
    return None if entry is None else entry.document


async def test_an_announced_summary_is_served_at_once(redis: Redis) -> None:
    cache = SummaryCache(redis, KEYS, max_age_s=3600)
    try:
        await cache.step()  # subscribed
        assert await served(cache) is None
        await announce(redis, b'{"v":1}')
        entry = await cache.get("nike")
        assert entry is not None
        assert (entry.document, entry.etag) == (b'{"v":1}', etag_of(b'{"v":1}'))
        await redis.set(KEY, b'{"v":2}')  # not announced: the copy stays
        assert await served(cache) == b'{"v":1}'
        await announce(redis, b'{"v":3}')  # announced by another replica
        await cache.step()
        assert await served(cache) == b'{"v":3}'
    finally:
        await cache.aclose()


async def test_an_unannounced_write_is_seen_after_the_cache_age(redis: Redis) -> None:
    cache = SummaryCache(redis, KEYS, max_age_s=0.3)
    try:
        await cache.step()
        await announce(redis, b'{"v":1}')
        assert await served(cache) == b'{"v":1}'
        await redis.set(KEY, b'{"v":2}')
        started = time.monotonic()
        while await served(cache) != b'{"v":2}':
            assert time.monotonic() - started < 5
            await asyncio.sleep(0.01)
        assert time.monotonic() - started >= 0.2
        await redis.delete(KEY)  # expired, or purged
        await cache.step()
        while await served(cache) is not None:
            assert time.monotonic() - started < 5
            await asyncio.sleep(0.01)
    finally:
        await cache.aclose()


async def get_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_concurrent_requests_share_one_read_and_never_wait_for_a_refresh(
    redis: Redis,
) -> None:
    cache = SummaryCache(redis, KEYS, max_age_s=2.0)
    try:
        await cache.step()
        await announce(redis, b'{"v":1}')
        before = await get_calls(redis)
        entries = await asyncio.gather(*(cache.get("nike") for _ in range(50)))
        assert {entry.document for entry in entries if entry} == {b'{"v":1}'}
        assert await get_calls(redis) - before == 1  # fifty requests, one read
        await redis.set(KEY, b'{"v":2}')  # not announced
        await asyncio.sleep(1.7)  # near the end of the copy's age
        before = await get_calls(redis)
        entries = await asyncio.gather(*(cache.get("nike") for _ in range(50)))
        assert {entry.document for entry in entries if entry} == {b'{"v":1}'}  # none waited
        started = time.monotonic()
        while await served(cache) != b'{"v":2}':  # the read they started replaces it
            assert time.monotonic() - started < 1
            await asyncio.sleep(0.01)
        assert await get_calls(redis) - before == 1  # one read, for all of them
    finally:
        await cache.aclose()


async def test_nothing_is_kept_while_announcements_cannot_be_heard(redis: Redis) -> None:
    cache = SummaryCache(redis, KEYS, max_age_s=3600)
    try:
        await redis.set(KEY, b'{"v":1}')
        assert await served(cache) == b'{"v":1}'  # not subscribed yet: read every time
        await redis.set(KEY, b'{"v":2}')
        assert await served(cache) == b'{"v":2}'
        await cache.step()
        assert await served(cache) == b'{"v":2}'
        await redis.client_kill_filter(_type="pubsub")  # the subscription is lost
        with pytest.raises(RedisError):  # the step reports the lost subscription
            await cache.step()
        await redis.set(KEY, b'{"v":3}')  # a summary announced while nobody listened
        assert await served(cache) == b'{"v":3}'
        await cache.step()  # subscribed again
        await announce(redis, b'{"v":4}')
        await cache.step()
        assert await served(cache) == b'{"v":4}'
    finally:
        await cache.aclose()


async def test_a_deleted_brands_summary_is_not_served(redis: Redis) -> None:
    registry = Registry(redis, KEYS, Metrics())
    await redis.delete(KEYS.brand_docs)
    await registry.create(new_brand(BrandCreate(name="Nike", keywords=["nike"]), now()))
    cache = SummaryCache(redis, KEYS, max_age_s=3600)
    try:
        await cache.step()
        await announce(redis, b'{"v":1}')
        assert await served(cache) == b'{"v":1}'
        await registry.delete("nike")  # not purged: the summary key stays, unserved
        await cache.step()
        assert await redis.exists(KEY) == 1
        assert await served(cache) is None
    finally:
        await cache.aclose()
