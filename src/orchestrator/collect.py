"""The collector: in every replica, read workers' reports from the results stream through the
``collectors`` consumer group, apply each, and acknowledge it only after its effect is stored.

Applying a result releases the task's place in the caps (idempotently: a redelivered report
changes nothing) and wakes its brand, so the scheduler hands it the next chunk at once.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.dispatch import COLLECTORS_GROUP, TaskQueue
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import FailureReport, ResultReport, decode_report
from orchestrator.store.streams import Entry, entries, group_entries

log = structlog.get_logger(__name__)

_STALE_MS = 60_000  # a report pending this long belonged to a collector that died


class Collector:
    def __init__(
        self, redis: Redis, keys: Keys, metrics: Metrics, consumer: str, batch: int = 500
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.consumer = consumer
        self.batch = batch
        self.queue = TaskQueue(redis, keys)
        self._ready = False
        self._next_claim_ms = 0

    async def step(self) -> float:
        if not self._ready:
            await self.queue.ensure_groups()
            self._ready = True
        try:
            batch = await self._claim_stale() or await self._read()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("collector.group_missing", action="recreating")  # the stream was deleted
            self._ready = False
            return 0.0
        if batch:
            await self.apply(batch)
        return 0.0

    async def _read(self) -> list[Entry]:
        reply = await self.redis.xreadgroup(
            COLLECTORS_GROUP, self.consumer, {self.keys.result_stream: ">"},
            count=self.batch, block=1000,
        )  # fmt: skip
        return [entry for _, entry in group_entries(reply)]

    async def _claim_stale(self) -> list[Entry]:
        now_ms = int(time.time() * 1000)
        if now_ms < self._next_claim_ms:
            return []
        self._next_claim_ms = now_ms + _STALE_MS // 2
        reply = await self.redis.xautoclaim(
            self.keys.result_stream, COLLECTORS_GROUP, self.consumer,
            min_idle_time=_STALE_MS, count=self.batch,
        )  # fmt: skip
        return entries(reply[1])

    async def apply(self, batch: list[Entry]) -> None:
        for _, raw in batch:
            await self._apply_one(raw)
        ids = [entry_id for entry_id, _ in batch]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.result_stream, COLLECTORS_GROUP, *ids)
            pipe.xdel(self.keys.result_stream, *ids)
            await pipe.execute()

    async def _apply_one(self, raw: bytes) -> None:
        try:
            report = decode_report(raw)
        except (ValueError, TypeError) as exc:
            log.warning("report.invalid", error=str(exc), raw=raw[:500].decode(errors="replace"))
            return
        if isinstance(report, ResultReport):
            await self._completed(report)
        else:
            self._failed(report)

    async def _completed(self, report: ResultReport) -> None:
        if report.chunk_id:  # the chunk is applied: the scheduler must not offer it again
            await self.redis.hdel(self.keys.pending_chunks(report.brand), report.chunk_id)
        brand = await self.queue.done(report.task_id)
        if brand is None:
            return  # a duplicate report: its effect was applied already
        self.metrics.tasks_completed.labels(report.kind).inc()
        now_ms = int(time.time() * 1000)
        await self.redis.zadd(self.keys.brand_due, {brand: now_ms}, xx=True, lt=True)

    def _failed(self, report: FailureReport) -> None:
        outcome = "dead_lettered" if report.final else "retried"
        self.metrics.tasks_failed.labels(report.kind, outcome).inc()
