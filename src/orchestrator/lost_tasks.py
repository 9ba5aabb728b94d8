"""Tasks lost in a failover: found, released, and their chunks offered again.

A worker publishes a task's result, then acknowledges and deletes the task's entry; the
collector that applies the result releases the task's place in the caps. The task and results
streams live on different hash slots, so without ``REDIS_WAIT_REPLICAS`` a failover can lose the
result and keep the acknowledgement. The task then stays in flight for ever: it holds one of its
brand's places and its chunk, which is never offered again.

The scheduler's leader sweeps for such tasks. A task in flight whose entry is off its stream (a
worker settled it) and that nothing released for ``lost_after_s`` is presumed lost: it is
released (``task_sweep.lua`` checks that nothing moved meanwhile) and its brand made due, so
the scheduler offers the chunk again. A result that was only late, not lost, still counts once:
its chunk's processed-marker refuses the second one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator.dispatch import ActiveEntry
from orchestrator.keys import Keys, Partition
from orchestrator.metrics import Metrics
from orchestrator.store.scripts import load_script
from orchestrator.types import text

log = structlog.get_logger(__name__)

BATCH = 1000  # tasks looked at per round trip

_decode_entry = msgspec.json.Decoder(ActiveEntry).decode


@dataclass(frozen=True)
class _Settled:
    """A task in flight whose entry a worker took off its stream."""

    task_id: str
    entry_id: str
    entry: ActiveEntry


@dataclass
class LostTasks:
    redis: Redis
    keys: Keys
    metrics: Metrics
    lost_after_s: float = 600.0
    # (partition, task id) → (entry id, when first seen settled and not released)
    _suspects: dict[tuple[int, str], tuple[str, float]] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def __post_init__(self) -> None:
        self._release = load_script(self.redis, "task_sweep")

    @property
    def every_s(self) -> float:
        """How often the leader sweeps: four times per grace period, within 1 s to 1 min."""
        return min(60.0, max(1.0, self.lost_after_s / 4))

    async def step(self) -> None:
        """Sweep if one is due (the scheduler calls this on every step it leads)."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.every_s
            await self.sweep(now)

    async def sweep(self, now: float | None = None) -> list[ActiveEntry]:
        """Release the tasks seen settled and not released for ``lost_after_s``."""
        now = time.monotonic() if now is None else now
        suspects: dict[tuple[int, str], tuple[str, float]] = {}
        lost: list[ActiveEntry] = []
        for partition in self.keys.all_partitions:
            async for settled in self._settled(partition):
                key = (partition.index, settled.task_id)
                entry_id, since = self._suspects.get(key, (settled.entry_id, now))
                if entry_id != settled.entry_id:
                    since = now
                if now - since < self.lost_after_s:
                    suspects[key] = (settled.entry_id, since)
                elif await self._released(partition, settled):
                    lost.append(settled.entry)
        self._suspects = suspects
        if lost:
            await self._wake(lost)
        return lost

    async def _settled(self, partition: Partition) -> AsyncIterator[_Settled]:
        """The partition's tasks in flight that are off their streams, a batch at a time."""
        batch: list[tuple[str, str]] = []
        async for task_id, entry_id in self.redis.hscan_iter(partition.task_entries, count=BATCH):
            batch.append((text(task_id), text(entry_id)))
            if len(batch) == BATCH:
                for settled in await self._off_stream(partition, batch):
                    yield settled
                batch = []
        for settled in await self._off_stream(partition, batch):
            yield settled

    async def _off_stream(
        self, partition: Partition, batch: Sequence[tuple[str, str]]
    ) -> list[_Settled]:
        if not batch:
            return []
        documents = await self.redis.hmget(partition.task_active, [t for t, _ in batch])
        found = [
            _Settled(task_id, entry_id, _decode_entry(document))
            for (task_id, entry_id), document in zip(batch, documents, strict=True)
            if document is not None
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for settled in found:
                stream = partition.task_stream(settled.entry.kind)
                pipe.xrange(stream, settled.entry_id, settled.entry_id, count=1)
            ranges = await pipe.execute()
        return [settled for settled, entries in zip(found, ranges, strict=True) if not entries]

    async def _released(self, partition: Partition, settled: _Settled) -> bool:
        p = partition
        keys = [
            p.task_active, p.task_in_flight, p.task_chunks, p.task_entries,
            p.task_stream(settled.entry.kind),
        ]  # fmt: skip
        brand = await self._release(keys=keys, args=[settled.task_id, settled.entry_id])
        if not brand:
            return False
        entry = settled.entry
        self.metrics.tasks_lost.labels(entry.kind).inc()
        log.warning(
            "tasks.presumed_lost",
            task_id=settled.task_id, brand=entry.brand, kind=entry.kind, chunk=entry.chunk,
            after_s=self.lost_after_s,
        )  # fmt: skip
        return True

    async def _wake(self, lost: Sequence[ActiveEntry]) -> None:
        """Make the brands due at once: their chunks are offered again on the next round."""
        now_ms = int(time.time() * 1000)
        await self.redis.zadd(
            self.keys.brand_due, {entry.brand: now_ms for entry in lost}, xx=True, lt=True
        )
