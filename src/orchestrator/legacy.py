"""Keeping the original platform's ``brands:list`` and the registry in step.

Other tools add slugs to ``brands:list`` (a set, or a list) or remove them. Every
``REGISTRY_SYNC_SEC`` one replica (a lock with expiry) compares the two in batches of 1,000 —
small commands, so the server is never blocked for long, whatever the number of brands — and
adopts or deletes. A missing ``brands:list`` is an empty one: every brand is unlisted. Each
action re-checks atomically (create fails if the slug exists; delete only if the slug is still
unlisted), so a race with the API changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from orchestrator.brand import BrandStatus
from orchestrator.registry import Registry, is_slug
from orchestrator.types import text

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


async def _listed_batches(redis: Redis, key: str, kind: str) -> AsyncIterator[list[str]]:
    if kind == "list":
        start = 0
        while batch := await redis.lrange(key, start, start + BATCH - 1):
            yield [text(member) for member in batch]
            start += BATCH
        return
    cursor = 0
    while True:
        cursor, members = await redis.sscan(key, cursor, count=BATCH)
        if members:
            yield [text(member) for member in members]
        if cursor == 0:
            return


async def difference(redis: Redis, listed_key: str, index_key: str) -> Difference:
    """Compare ``brands:list`` with the registry's index, a batch at a time."""
    kind = text(await redis.type(listed_key))
    unregistered: dict[str, None] = {}  # ordered, without SSCAN's repeats
    seen_in_list: set[str] = set()
    async for batch in _listed_batches(redis, listed_key, kind):
        scores = await redis.zmscore(index_key, batch)
        unregistered.update(
            (m, None) for m, score in zip(batch, scores, strict=True) if score is None
        )
        if kind == "list":
            seen_in_list.update(batch)
    unlisted: list[str] = []
    start = "-"
    while page := await redis.zrangebylex(index_key, start, "+", start=0, num=BATCH):
        slugs = [text(slug) for slug in page]
        if kind == "list":
            present = [slug in seen_in_list for slug in slugs]
        else:
            present = [bool(p) for p in await redis.smismember(listed_key, slugs)]
        unlisted += [slug for slug, here in zip(slugs, present, strict=True) if not here]
        start = f"({slugs[-1]}"
    return Difference(list(unregistered), unlisted)


async def sync(registry: Registry) -> SyncReport:
    """Adopt slugs other tools put in ``brands:list``; drop brands they removed from it."""
    keys = registry.keys
    with registry.metrics.redis_timer("registry_diff"):
        diff = await difference(registry.redis, keys.brands_list, keys.brand_index)
    rejected = [slug for slug in diff.unregistered if not is_slug(slug)]
    adopted = [s for s in diff.unregistered if is_slug(s) and await registry.adopt(s)]
    removed = [slug for slug in diff.unlisted if await registry.delete_if_unlisted(slug)]
    return SyncReport(adopted, removed, rejected)


class LegacySync:
    """Loop step: reconcile ``brands:list`` every ``interval_s``, on one replica at a time."""

    def __init__(self, registry: Registry, interval_s: float, owner: str) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self.owner = owner
        self._reported: set[str] = set()

    async def step(self) -> float:
        registry = self.registry
        lock_ms = max(1, int(self.interval_s * 900))
        lock = registry.keys.registry_sync_lock
        if await registry.redis.set(lock, self.owner, nx=True, px=lock_ms):
            report = await sync(registry)
            fresh = sorted(set(report.rejected) - self._reported)
            if fresh:
                log.warning("brand.legacy_rejected", slugs=fresh, reason="not a valid slug")
                self._reported.update(fresh)
        await self._count()
        return self.interval_s

    async def _count(self) -> None:
        keys = self.registry.keys
        async with self.registry.redis.pipeline(transaction=False) as pipe:
            for status in BrandStatus:
                pipe.zcard(keys.brand_status_index(status.value))
            counts = await pipe.execute()
        for status, count in zip(BrandStatus, counts, strict=True):
            self.registry.metrics.brands.labels(status.value).set(count)
