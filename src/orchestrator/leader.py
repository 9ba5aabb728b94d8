"""The scheduler's lease: one leader at a time, with a fencing token stamped on every task.

A replica that holds the lease renews it every third of its period. One whose renewal fails
stops dispatching at once; and since the dispatch script itself checks the holder and the
token, a deposed leader cannot put a task on the stream even mid-round. With several stream
partitions (``STREAM_PARTITIONS``) each renewal also copies holder, expiry and token to every
other partition's slot, where its dispatch script checks them; a new leader writes its newer
token there before it dispatches anything, and a partition never takes an older one back.
Another replica takes over within two lease periods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.store.scripts import load_script
from orchestrator.types import text

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Leadership:
    """Who leads, since when (ms since the epoch) and with which fencing token."""

    owner: str | None
    since_ms: int | None
    fence: int


class Lease:
    def __init__(self, redis: Redis, keys: Keys, owner: str, ttl_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.owner = owner
        self.ttl_ms = max(100, int(ttl_s * 1000))
        self.fence = 0
        self.held = False
        self._acquire = load_script(redis, "leader_acquire")
        self._release = load_script(redis, "leader_release")
        self._mirror = load_script(redis, "leader_mirror")

    @property
    def renew_every_s(self) -> float:
        return self.ttl_ms / 3000

    async def refresh(self) -> bool:
        """Take or renew the lease; False (and not leading) when another replica holds it."""
        keys = [self.keys.leader, self.keys.fence, self.keys.leader_since]
        held, fence = await self._acquire(
            keys=keys, args=[self.owner, self.ttl_ms, int(time.time() * 1000)]
        )
        was_held, self.held, self.fence = self.held, bool(held), int(fence)
        if self.held and not await self._mirrored():
            self.held = False
        if self.held and not was_held:
            log.info("leader.acquired", fence=self.fence)
        elif was_held and not self.held:
            log.warning("leader.lost", fence=self.fence)
        return self.held

    async def _mirrored(self) -> bool:
        """Copy the lease to the other partitions; False when one of them knows a newer leader."""
        others = self.keys.all_partitions[1:]
        if not others:
            return True
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in others:
                keys = [partition.leader, partition.fence]
                self._mirror.queue(pipe, keys, [self.owner, self.fence, self.ttl_ms])
            copied = await pipe.execute()
        return all(copied)

    def lose(self) -> None:
        """Stop leading now (the lease could not be renewed)."""
        if self.held:
            log.warning("leader.lost", fence=self.fence, reason="renewal failed")
        self.held = False

    async def release(self) -> None:
        if self.held:
            await self._release(keys=[self.keys.leader], args=[self.owner])
            self.held = False
            log.info("leader.released", fence=self.fence)

    async def current(self) -> Leadership:
        owner, since, fence = await self.redis.mget(
            self.keys.leader, self.keys.leader_since, self.keys.fence
        )
        return Leadership(
            owner=text(owner) if owner else None,
            since_ms=int(since) if since and owner else None,
            fence=int(fence or 0),
        )
