"""Worker heartbeats: a document with a TTL per worker, and a sorted set of last-seen times."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import structlog
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.protocol import Heartbeat, encode
from orchestrator.store.connection import OUTAGES

log = structlog.get_logger(__name__)


class HeartbeatPublisher:
    """Publishes ``snapshot()`` every ``every_s``; the document expires after three periods."""

    def __init__(
        self, redis: Redis, keys: Keys, snapshot: Callable[[], Heartbeat], every_s: float
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.snapshot = snapshot
        self.every_s = every_s

    async def publish(self) -> None:
        document = self.snapshot()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(
                self.keys.worker(document.worker_id), encode(document), px=int(self.every_s * 3000)
            )
            pipe.zadd(self.keys.workers, {document.worker_id: int(time.time() * 1000)})
            await pipe.execute()

    async def run(self, stopping: anyio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.publish()
            except OUTAGES as exc:  # the store is away: one line per missed beat
                log.warning("heartbeat.failed", error=str(exc) or type(exc).__name__)
            except Exception:  # a missed heartbeat must not stop the worker
                log.exception("heartbeat.failed")
            with anyio.move_on_after(self.every_s):
                await stopping.wait()

    async def remove(self, worker_id: str) -> None:
        """A clean stop: the worker is gone at once rather than after its TTL (it stays listed,
        as gone, with its last-seen time, until the orchestrator forgets it)."""
        await self.redis.delete(self.keys.worker(worker_id))
