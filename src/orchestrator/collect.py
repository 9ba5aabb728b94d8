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


class Collector:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        consumer: str,
        claim_idle_s: float = 60.0,
    ) -> None:
        self.claim_idle_ms = int(claim_idle_s * 1000)  # pending this long: its collector died
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.consumer = consumer
        self.batch = 500  # reports per read
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
        self._next_claim_ms = now_ms + self.claim_idle_ms // 2
        reply = await self.redis.xautoclaim(
            self.keys.result_stream, COLLECTORS_GROUP, self.consumer,
            min_idle_time=self.claim_idle_ms, count=self.batch,
        )  # fmt: skip
        return entries(reply[1])

    async def apply(self, batch: list[Entry]) -> None:
        """Apply a batch of reports in a few round trips, then acknowledge and delete them."""
        if not batch:
            return
        results: list[ResultReport] = []
        for _, raw in batch:
            report = _decode(raw)
            if isinstance(report, ResultReport):
                results.append(report)
            elif isinstance(report, FailureReport):
                self._failed(report)
        if results:
            await self._completed(results)
        ids = [entry_id for entry_id, _ in batch]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.result_stream, COLLECTORS_GROUP, *ids)
            pipe.xdel(self.keys.result_stream, *ids)
            await pipe.execute()

    async def _completed(self, reports: list[ResultReport]) -> None:
        """Release each task's place in the caps (a duplicate report finds nothing to release)
        and wake its brand, so the scheduler hands it the next chunk at once."""
        chunks = [(report.brand, report.chunk_id) for report in reports if report.chunk_id]
        if chunks:  # applied: the scheduler must not offer these chunks again
            async with self.redis.pipeline(transaction=False) as pipe:
                for brand, chunk_id in chunks:
                    pipe.hdel(self.keys.pending_chunks(brand), chunk_id)
                await pipe.execute()
        brands = await self.queue.done([report.task_id for report in reports])
        now_ms = int(time.time() * 1000)
        woken: dict[str, int] = {}
        for report, released in zip(reports, brands, strict=True):
            if released:  # None: a duplicate report, its effect was applied already
                self.metrics.tasks_completed.labels(report.kind).inc()
                woken[released] = now_ms
        if woken:
            await self.redis.zadd(self.keys.brand_due, woken, xx=True, lt=True)

    def _failed(self, report: FailureReport) -> None:
        outcome = "dead_lettered" if report.final else "retried"
        self.metrics.tasks_failed.labels(report.kind, outcome).inc()


def _decode(raw: bytes) -> ResultReport | FailureReport | None:
    try:
        return decode_report(raw)
    except (ValueError, TypeError) as exc:  # msgspec's DecodeError and ValidationError
        log.warning("report.invalid", error=str(exc), raw=raw[:500].decode(errors="replace"))
        return None
