"""Keeping the original platform's ``brands:list`` and the registry in step.

Other tools add slugs to ``brands:list`` (a set, or a list) or remove them. Every
``REGISTRY_SYNC_SEC`` one replica (a lock with expiry) compares the two in batches of 1,000 —
small commands, each on one key (``brands:list`` and the registry sit in different hash slots
on a cluster), so the server is never blocked for long, whatever the number of brands. A missing
``brands:list`` is an empty one: every brand is unlisted.

A difference is either another tool's doing or one of our own changes half done (the registry
writes ``brands:list`` in a step after its script): the slugs this service has listed
(``Keys.brand_listed``) tell which. Listed by another tool and unregistered: adopted. Ours,
unregistered: a delete to finish (unlisted). Registered and unlisted, ours: another tool removed
it, the brand is deleted. Registered and unlisted, never ours: a create to finish (listed).
Each action re-checks atomically (create fails if the slug exists; delete only if the slug
is still unlisted and was ours), so a race with the API changes nothing for long.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis

from orchestrator.registry import Registry, is_slug
from orchestrator.types import BrandStatus, text

log = structlog.get_logger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class SyncReport:
    adopted: list[str]
    removed: list[str]
    rejected: list[str]
    finished: list[str] = field(default_factory=list)  # our own changes, left half done


@dataclass(frozen=True)
class Difference:
    unregistered: list[str]  # in brands:list, not in the registry
    unlisted: list[str]  # in the registry, not in brands:list


Membership = Callable[[list[str]], Awaitable[list[bool]]]


async def _unlisted(redis: Redis, index_key: str, listed: Membership) -> list[str]:
    """The registered slugs ``listed`` says are not in ``brands:list``, a page at a time."""
    unlisted: list[str] = []
    cursor = "-"
    while page := [text(s) for s in await redis.zrangebylex(index_key, cursor, "+", 0, BATCH)]:
        found = await listed(page)
        unlisted += [slug for slug, member in zip(page, found, strict=True) if not member]
        cursor = f"({page[-1]}"
    return unlisted


async def _unregistered(redis: Redis, index_key: str, batch: list[str]) -> list[str]:
    scores = await redis.zmscore(index_key, batch) if batch else []
    return [slug for slug, score in zip(batch, scores, strict=True) if score is None]


async def _list_difference(redis: Redis, listed_key: str, index_key: str) -> Difference:
    """For a ``brands:list`` that older tools made a list: read a batch at a time."""
    unregistered: dict[str, None] = {}
    listed: set[str] = set()
    start = 0
    while batch := [text(m) for m in await redis.lrange(listed_key, start, start + BATCH - 1)]:
        unregistered.update((m, None) for m in await _unregistered(redis, index_key, batch))
        listed.update(batch)
        start += BATCH

    async def member(slugs: list[str]) -> list[bool]:
        return [slug in listed for slug in slugs]

    return Difference(list(unregistered), await _unlisted(redis, index_key, member))


async def _set_difference(redis: Redis, listed_key: str, index_key: str) -> Difference:
    unregistered: dict[str, None] = {}  # SSCAN may repeat a member
    cursor = 0
    while True:
        cursor, found = await redis.sscan(listed_key, cursor, count=BATCH)
        batch = [text(m) for m in found]
        unregistered.update((m, None) for m in await _unregistered(redis, index_key, batch))
        if cursor == 0:
            break

    async def member(slugs: list[str]) -> list[bool]:
        return [bool(found) for found in await redis.smismember(listed_key, slugs)]

    return Difference(list(unregistered), await _unlisted(redis, index_key, member))


async def difference(registry: Registry) -> Difference:
    """Compare ``brands:list`` with the registry's index, a batch at a time."""
    keys = registry.keys
    if text(await registry.redis.type(keys.brands_list)) == "list":
        return await _list_difference(registry.redis, keys.brands_list, keys.brand_index)
    return await _set_difference(registry.redis, keys.brands_list, keys.brand_index)


async def _mark_listed_brands(registry: Registry) -> None:
    """Once, on a store written before the marks (the registry and ``brands:list`` then moved
    as one): every registered slug was listed by this service."""
    keys = registry.keys
    if await registry.redis.exists(keys.brand_listed_tracked):
        return
    slugs = await registry.slugs()
    for start in range(0, len(slugs), BATCH):
        await registry.redis.sadd(keys.brand_listed, *slugs[start : start + BATCH])
    await registry.redis.set(keys.brand_listed_tracked, "1")


async def sync(registry: Registry) -> SyncReport:
    """Adopt slugs other tools put in ``brands:list``; drop brands they removed from it;
    finish our own changes that a crash left half done."""
    await _mark_listed_brands(registry)
    with registry.metrics.redis_timer("registry_diff"):
        diff = await difference(registry)
    deleting = await registry.marked(diff.unregistered)
    creating = set(diff.unlisted) - await registry.marked(diff.unlisted)
    for slug in deleting:
        await registry.unlist_slug(slug)
    for slug in creating:
        await registry.list_slug(slug)
    listed = [slug for slug in diff.unregistered if slug not in deleting]
    rejected = [slug for slug in listed if not is_slug(slug)]
    adopted = [slug for slug in listed if is_slug(slug) and await registry.adopt(slug)]
    removed = [
        slug
        for slug in diff.unlisted
        if slug not in creating and await registry.delete_if_unlisted(slug)
    ]
    return SyncReport(adopted, removed, rejected, sorted(deleting | creating))


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
