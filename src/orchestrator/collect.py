"""The collector: in every replica, read workers' reports from a results stream through the
``collectors`` consumer group, apply each, and acknowledge it only after its effect is stored.
A replica runs one collector per stream partition (``STREAM_PARTITIONS``).

An ``analyze`` task's result is a chunk result: it is applied to its brand's aggregate exactly
once, or parked with the reason. Every result releases the task's place in the caps
(idempotently: a redelivered report changes nothing) and wakes its brand, so the scheduler hands
it the next chunk at once.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.chunk_result import WireResult, read_wire
from orchestrator.dispatch import COLLECTORS_GROUP, TaskQueue, ensure_group, released
from orchestrator.keys import Keys, Partition
from orchestrator.metrics import Metrics
from orchestrator.parking import Reason
from orchestrator.protocol import DecodeError, FailureReport, ResultEnvelope, decode_envelope
from orchestrator.results import Incoming, ResultIntake
from orchestrator.store.scripts import load_script
from orchestrator.store.streams import Entry, GroupReader, entries

log = structlog.get_logger(__name__)

ANALYZE = "analyze"  # the kind whose results are chunk results, applied to aggregates


@dataclass
class Collector:
    redis: Redis
    keys: Keys
    metrics: Metrics
    intake: ResultIntake
    consumer: str
    partition: Partition
    claim_idle_s: float = 60.0  # results pending this long: their collector died
    batch: int = 1000  # reports per read: more results per brand script (docs/benchmarks.md)
    queue: TaskQueue = field(init=False)
    _ready: bool = field(init=False, default=False)
    _next_claim_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.claim_idle_ms = int(self.claim_idle_s * 1000)
        self.queue = TaskQueue(self.redis, self.keys)
        self.stream = self.partition.result_stream
        self._reader = GroupReader(self.redis, COLLECTORS_GROUP, self.consumer)
        self._ack = load_script(self.redis, "entries_ack")

    async def step(self) -> float:
        if not self._ready:
            await ensure_group(self.redis, self.stream, COLLECTORS_GROUP)
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
        found = await self._reader.read({self.stream: ">"}, count=self.batch, block_ms=1000)
        return [entry for _, entry in found]

    async def _claim_stale(self) -> list[Entry]:
        now_ms = int(time.time() * 1000)
        if now_ms < self._next_claim_ms:
            return []
        self._next_claim_ms = now_ms + self.claim_idle_ms // 2
        reply = await self.redis.xautoclaim(
            self.stream, COLLECTORS_GROUP, self.consumer,
            min_idle_time=self.claim_idle_ms, count=self.batch,
        )  # fmt: skip
        return entries(reply[1])

    async def apply(self, batch: list[Entry]) -> None:
        """Apply a batch of reports in a few round trips, then acknowledge and delete them."""
        if not batch:
            return
        completed: list[ResultEnvelope] = []
        incoming: list[Incoming] = []
        for _, raw in batch:
            analyzed = decode_analyzed(raw)
            if analyzed is not None:  # the common case, in one pass
                completed.append(analyzed[0])
                incoming.append(analyzed[1])
                continue
            try:
                report = decode_envelope(raw)
            except (ValueError, TypeError) as exc:  # msgspec's DecodeError and ValidationError
                reason = Reason.NOT_JSON if isinstance(exc, DecodeError) else Reason.INVALID
                incoming.append(Incoming(raw, None, None, reason, f"not a report: {exc}"))
                continue
            if isinstance(report, FailureReport):
                self._failed(report)
                continue
            completed.append(report)
            if report.kind == ANALYZE:
                incoming.append(Incoming.decode(raw, report.result, report.brand))
        applied: set[tuple[str, str]] = set()
        if incoming:
            outcome = await self.intake.apply(incoming, "stream")
            applied = {(result.brand, result.chunk_id) for result in outcome.applied}
        woken = await self._completed(completed, applied) if completed else {}
        ids = [entry_id for entry_id, _ in batch]
        async with self.redis.pipeline(transaction=False) as pipe:
            if woken:
                pipe.zadd(self.keys.brand_due, woken, xx=True, lt=True)
            self._ack.queue(pipe, [self.stream], [COLLECTORS_GROUP, b" ".join(ids)])
            await pipe.execute()

    async def _completed(
        self, reports: list[ResultEnvelope], applied: set[tuple[str, str]]
    ) -> dict[str, int]:
        """Release each task's place in the caps (a duplicate report finds nothing to release);
        the brands to wake (now), so the scheduler hands them their next chunk at once. A chunk
        whose result was not applied (parked, or not a chunk result) is pending no more either
        (an applied one was taken off by the same script that applied it)."""
        chunks: dict[str, list[str]] = defaultdict(list)
        for report in reports:
            if report.chunk_id and (report.brand, report.chunk_id) not in applied:
                chunks[report.brand].append(report.chunk_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for brand, chunk_ids in chunks.items():  # the scheduler must not offer them again
                pipe.hdel(self.keys.pending_chunks(brand), *chunk_ids)
            self.queue.queue_done(pipe, self.partition, [report.task_id for report in reports])
            *_, reply = await pipe.execute()
        brands = released(reply)
        now_ms = int(time.time() * 1000)
        woken: dict[str, int] = {}
        completed: Counter[str] = Counter()  # by kind
        for report, released_brand in zip(reports, brands, strict=True):
            if released_brand:  # None: a duplicate report, its effect was applied already
                completed[report.kind] += 1
                woken[released_brand] = now_ms
        for kind, count in completed.items():
            self.metrics.tasks_completed.labels(kind).inc(count)
        return woken

    def _failed(self, report: FailureReport) -> None:
        outcome = "dead_lettered" if report.final else "retried"
        self.metrics.tasks_failed.labels(report.kind, outcome).inc()


class _AnalyzedReport(ResultEnvelope, frozen=True, tag="result"):
    """A result report with its chunk result decoded in the same pass."""

    result: WireResult  # type: ignore[assignment]


_decode_analyzed = msgspec.json.Decoder(_AnalyzedReport).decode


def decode_analyzed(raw: bytes) -> tuple[ResultEnvelope, Incoming] | None:
    """A valid chunk result's report and the result, read in one pass over the payload; None
    for anything else (a failure, another kind, anything invalid), which ``Collector.apply``
    decodes the long way, naming what is wrong."""
    try:
        report = _decode_analyzed(raw)
        if report.kind != ANALYZE:
            return None
        return report, Incoming(raw, report.brand, read_wire(report.result))
    except (ValueError, TypeError):  # msgspec's DecodeError and ValidationError, InvalidResult
        return None
