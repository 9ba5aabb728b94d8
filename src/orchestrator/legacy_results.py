"""Chunk results from legacy producers, which ``RPUSH`` them to ``result:brand:{slug}:chunks``.

Every replica polls the lists of registered brands; a short per-brand lease keeps two replicas
from reading the same list at once. A batch is read without removing it (``LRANGE``), applied,
and only then removed by a script that checks the list still starts with exactly those items. A
replica that dies mid-batch leaves the items in place: the next reader applies them again, and
the chunk ids' processed-markers make that a no-op. Nothing is lost, nothing applied twice.

(The classic pattern, ``LMOVE`` to a processing list, moves between two keys that a cluster puts
in different slots; this one touches one key per step.)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import cast

import structlog
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.registry import Registry
from orchestrator.results import Incoming, ResultIntake
from orchestrator.store.scripts import load_script
from orchestrator.types import text

log = structlog.get_logger(__name__)


def digest(items: list[bytes]) -> str:
    """What ``legacy_trim.lua`` compares: SHA-1 over each item as ``<length>:<item>``."""
    sha = hashlib.sha1(usedforsecurity=False)
    for item in items:
        sha.update(b"%d:" % len(item))
        sha.update(item)
    return sha.hexdigest()


@dataclass
class LegacyResults:
    redis: Redis
    keys: Keys
    registry: Registry
    intake: ResultIntake
    owner: str  # this replica's id, held in the per-brand lease
    batch: int = 500
    poll_s: float = 1.0
    lease_s: float = 30.0
    slugs_every_s: float = 15.0  # how often the list of registered brands is re-read
    _slugs: list[str] = field(init=False, default_factory=list)
    _slugs_at: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.lease_ms = int(self.lease_s * 1000)
        self._trim = load_script(self.redis, "legacy_trim")

    async def step(self) -> float:
        """Read one batch from every non-empty list; at once again while any was full."""
        full = False
        for slug in await self._waiting():
            full |= await self.drain(slug) == self.batch
        return 0.0 if full else self.poll_s

    async def drain(self, slug: str) -> int:
        """Apply and remove one batch of ``slug``'s list; the items removed."""
        if not await self._lease(slug):
            return 0
        key = self.keys.legacy_chunks(slug)
        items = cast(list[bytes], await self.redis.lrange(key, 0, self.batch - 1))
        if not items:
            return 0
        await self.intake.apply([Incoming.decode(raw, raw, slug) for raw in items], "legacy")
        removed = int(await self._trim(keys=[key], args=[len(items), digest(items)]))
        if removed == 0:
            log.info("legacy.consumed_elsewhere", brand=slug)
        return removed

    async def _waiting(self) -> list[str]:
        """Registered brands whose legacy list holds items."""
        now = time.monotonic()
        if now - self._slugs_at >= self.slugs_every_s:
            self._slugs, self._slugs_at = await self.registry.slugs(), now
        waiting: list[str] = []
        for start in range(0, len(self._slugs), 1000):
            part = self._slugs[start : start + 1000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug in part:
                    pipe.llen(self.keys.legacy_chunks(slug))
                lengths = await pipe.execute()
            waiting += [slug for slug, n in zip(part, lengths, strict=True) if n]
        return waiting

    async def _lease(self, slug: str) -> bool:
        key = self.keys.legacy_lease(slug)
        if await self.redis.set(key, self.owner, nx=True, px=self.lease_ms):
            return True
        holder = await self.redis.get(key)
        if holder is not None and text(holder) == self.owner:
            await self.redis.pexpire(key, self.lease_ms)
            return True
        return False
