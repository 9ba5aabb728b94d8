"""Keeping the original platform's ``brands:list`` and the registry in step.

Other tools add slugs to ``brands:list`` (a set, or a list) or remove them. Every
``REGISTRY_SYNC_SEC`` one replica (a lock with expiry) compares the two in batches of 1,000 —
small commands, so the server is never blocked for long, whatever the number of brands — and
adopts or deletes. A missing ``brands:list`` is an empty one: every brand is unlisted. Each
action re-checks atomically (create fails if the slug exists; delete only if the slug is still
unlisted), so a race with the API changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from orchestrator.registry import Registry, is_slug
from orchestrator.store.scripts import load_script
from orchestrator.types import BrandStatus, text

log = structlog.get_logger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class SyncReport:
    adopted: list[str]
    removed: list[str]
    rejected: list[str]


@dataclass(frozen=True)
class Difference:
    unregistered: list[str]  # in brands:list, not in the registry
    unlisted: list[str]  # in the registry, not in brands:list


async def _list_difference(redis: Redis, listed_key: str, index_key: str) -> Difference:
    """For a ``brands:list`` that older tools made a list: compared here, a batch at a time."""
    unregistered: dict[str, None] = {}
    listed: set[str] = set()
    start = 0
    while batch := [text(m) for m in await redis.lrange(listed_key, start, start + BATCH - 1)]:
        scores = await redis.zmscore(index_key, batch)
        unregistered.update(
            (m, None) for m, score in zip(batch, scores, strict=True) if score is None
        )
        listed.update(batch)
        start += BATCH
    unlisted: list[str] = []
    cursor = "-"
    while page := [text(s) for s in await redis.zrangebylex(index_key, cursor, "+", 0, BATCH)]:
        unlisted += [slug for slug in page if slug not in listed]
        cursor = f"({page[-1]}"
    return Difference(list(unregistered), unlisted)


class Comparison:
    """The comparison of a set ``brands:list`` with the index, in bounded server-side steps."""

    def __init__(self, registry: Registry) -> None:
        self.redis = registry.redis
        self.keys = [registry.keys.brands_list, registry.keys.brand_index]
        self._step = load_script(registry.redis, "registry_diff_batch")

    async def walk(self, phase: str, start: str, done: str) -> list[str]:
        found: dict[str, None] = {}  # SSCAN may repeat a member
        cursor = start
        while True:
            cursor_raw, slugs = await self._step(keys=self.keys, args=[phase, cursor, BATCH])
            found.update((text(slug), None) for slug in slugs)
            cursor = text(cursor_raw)
            if cursor == done:
                return list(found)


async def difference(registry: Registry) -> Difference:
    """Compare ``brands:list`` with the registry's index, a batch at a time."""
    keys = registry.keys
    if text(await registry.redis.type(keys.brands_list)) == "list":
        return await _list_difference(registry.redis, keys.brands_list, keys.brand_index)
    comparison = Comparison(registry)
    unregistered = await comparison.walk("listed", "0", "0")
    unlisted = await comparison.walk("indexed", "", "")
    return Difference(unregistered, unlisted)


async def sync(registry: Registry) -> SyncReport:
    """Adopt slugs other tools put in ``brands:list``; drop brands they removed from it."""
    with registry.metrics.redis_timer("registry_diff"):
        diff = await difference(registry)
    rejected = [slug for slug in diff.unregistered if not is_slug(slug)]
    adopted = [s for s in diff.unregistered if is_slug(s) and await registry.adopt(s)]
    removed = [slug for slug in diff.unlisted if await registry.delete_if_unlisted(slug)]
    return SyncReport(adopted, removed, rejected)


async def counts_match(registry: Registry) -> bool:
    """Whether ``brands:list`` holds as many slugs as the registry (two O(1) commands)."""
    keys = registry.keys
    kind = text(await registry.redis.type(keys.brands_list))
    async with registry.redis.pipeline(transaction=False) as pipe:
        pipe.llen(keys.brands_list) if kind == "list" else pipe.scard(keys.brands_list)
        pipe.zcard(keys.brand_index)
        listed, registered = await pipe.execute()
    return bool(listed == registered)


class LegacySync:
    """Loop step: reconcile ``brands:list`` every ``interval_s``, on one replica at a time.

    A pass compares the two counts first and walks both only when they differ, or on every
    ``full_every``-th pass: an addition and a removal by other tools within the same interval
    keep the counts equal and are noticed by that full pass (one minute at the defaults).
    """

    def __init__(
        self, registry: Registry, interval_s: float, owner: str, full_every: int = 12
    ) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self.owner = owner
        self.full_every = full_every
        self._passes = 0
        self._reported: set[str] = set()

    async def step(self) -> float:
        registry = self.registry
        lock_ms = max(1, int(self.interval_s * 900))
        lock = registry.keys.registry_sync_lock
        if await registry.redis.set(lock, self.owner, nx=True, px=lock_ms):
            await self._pass()
        await self._count()
        return self.interval_s

    async def _pass(self) -> None:
        full = self._passes % self.full_every == 0
        self._passes += 1
        if full or not await counts_match(self.registry):
            report = await sync(self.registry)
            fresh = sorted(set(report.rejected) - self._reported)
            if fresh:
                log.warning("brand.legacy_rejected", slugs=fresh, reason="not a valid slug")
                self._reported.update(fresh)

    async def _count(self) -> None:
        keys = self.registry.keys
        async with self.registry.redis.pipeline(transaction=False) as pipe:
            for status in BrandStatus:
                pipe.zcard(keys.brand_status_index(status.value))
            counts = await pipe.execute()
        for status, count in zip(BrandStatus, counts, strict=True):
            self.registry.metrics.brands.labels(status.value).set(count)
