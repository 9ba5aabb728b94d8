"""The worker: reads tasks through the ``workers`` consumer group, runs a handler per kind,
publishes each result, then acknowledges the task (results and acks batched).

A delivery is settled exactly one way: a result (published, then acknowledged and deleted), a
retry (acknowledged and put in the delayed set with its backoff, one script), or a dead letter
(acknowledged and moved, one script). A worker that dies leaves its deliveries pending; after
the visibility timeout another worker claims them.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ResponseError

from orchestrator import __version__
from orchestrator.dispatch import WORKERS_GROUP, TaskQueue
from orchestrator.keys import Keys, Partition
from orchestrator.protocol import (
    FIELD,
    Delivery,
    FailureReport,
    Heartbeat,
    ResultReport,
    Task,
    TaskError,
    decode_task,
    encode,
    utcnow,
)
from orchestrator.schedule import backoff_ms
from orchestrator.store.connection import OUTAGES
from orchestrator.store.durability import Durability
from orchestrator.store.scripts import load_script
from orchestrator.store.streams import Entry, GroupReader, entries
from orchestrator.worker.heartbeat import HeartbeatPublisher

log = structlog.get_logger(__name__)


def _context_vars() -> tuple[contextvars.ContextVar[Any], contextvars.ContextVar[Any]]:
    """structlog's own context variables for the ``task`` and ``brand`` log fields (bound
    once, in a context of their own, to learn them): setting them is binding those fields,
    without ``bind_contextvars``' per-call work, and ``unbind_contextvars`` still sees them."""
    tokens = contextvars.copy_context().run(
        structlog.contextvars.bind_contextvars, task=None, brand=None
    )
    return tokens["task"].var, tokens["brand"].var


@dataclass(frozen=True)
class Context:
    """What a handler may use besides its task: the worker's Redis client and key names."""

    redis: Redis
    keys: Keys
    worker_id: str


Handler = Callable[[Task, Context], Awaitable[Any]]
_OUTAGE_BACKOFF = ExponentialWithJitterBackoff(cap=5.0, base=0.1)


class Retry(Exception):  # noqa: N818 - control flow, named like arq's Retry
    """Raise in a handler to try the task again after ``defer_s`` (default: the backoff)."""

    def __init__(self, defer_s: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.defer_s = defer_s


class Reject(Exception):  # noqa: N818 - control flow
    """Raise in a handler when trying again cannot help: the task is dead-lettered at once."""


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 16
    block_ms: int = 1000
    visibility_timeout_s: float = 60.0
    heartbeat_s: float = 5.0
    grace_s: float = 10.0
    burst: bool = False
    backoff_base_ms: int = 500
    backoff_cap_ms: int = 60_000
    wait_replicas: int = 0  # replicas that hold a result before its task is acknowledged
    wait_timeout_ms: int = 1000


@dataclass
class Counters:
    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    reclaimed: int = 0
    started_at: float = field(default_factory=time.time)


class Worker:
    """Runs ``handlers`` (kind → async callable) until :meth:`stop`, or until idle in burst mode."""

    def __init__(
        self,
        redis: Redis,
        handlers: Mapping[str, Handler],
        *,
        keys: Keys | None = None,
        settings: WorkerSettings | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.redis = redis
        self.handlers = dict(handlers)
        self.keys = keys or Keys()
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.queue = TaskQueue(redis, self.keys)
        self.context = Context(redis, self.keys, self.worker_id)
        self.counters = Counters()
        self._handling: dict[int, asyncio.Task[None]] = {}  # by id() of its delivery
        self._task_var, self._brand_var = _context_vars()
        self._slot_free = asyncio.Event()
        self._publish = load_script(redis, "results_publish")
        self._ack = load_script(redis, "entries_ack")
        self._reader = GroupReader(redis, WORKERS_GROUP, self.worker_id)
        s = self.settings
        self._durability = Durability(redis, s.wait_replicas, s.wait_timeout_ms)
        self._stopping = anyio.Event()
        self._done: list[tuple[Delivery, ResultReport]] = []
        self._flush_wanted = anyio.Event()
        self._in_flight = 0
        self._reserved = 0  # slots promised to reads under way
        self._outages = 0
        self._quiet = asyncio.Event()  # set when the last task in flight finishes

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def kinds(self) -> list[str]:
        return sorted(self.handlers)

    def heartbeat(self) -> Heartbeat:
        """This worker's state, as published every ``heartbeat_s``."""
        return Heartbeat(
            worker_id=self.worker_id, host=socket.gethostname(), pid=os.getpid(),
            kinds=sorted(self.handlers), concurrency=self.settings.concurrency,
            in_flight=self._in_flight, processed=self.counters.processed,
            failed=self.counters.failed,
            started_at=datetime.fromtimestamp(self.counters.started_at, UTC), sent_at=utcnow(),
            version=__version__,
        )  # fmt: skip

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop claiming tasks; those in flight finish within the grace period."""
        if not self._stopping.is_set():
            log.info("worker.stopping", worker=self.worker_id, in_flight=self._in_flight)
            self._stopping.set()

    async def run(self) -> None:
        await self.queue.ensure_groups(self.kinds)
        heartbeat = HeartbeatPublisher(
            self.redis, self.keys, self.heartbeat, self.settings.heartbeat_s
        )
        log.info("worker.started", worker=self.worker_id, kinds=sorted(self.handlers))
        async with anyio.create_task_group() as services:
            services.start_soon(heartbeat.run, self._stopping)
            services.start_soon(self._flush_forever)
            services.start_soon(self._reclaim_forever)
            await self._read_until_stopped()
            await self._drain()
            await self._flush()
            services.cancel_scope.cancel()
        await heartbeat.remove(self.worker_id)
        log.info("worker.stopped", worker=self.worker_id, processed=self.counters.processed)

    @property
    def _free(self) -> int:
        return self.settings.concurrency - self._in_flight - self._reserved

    async def _read_until_stopped(self) -> None:
        async with anyio.create_task_group() as readers:
            for partition in self.keys.all_partitions:
                readers.start_soon(self._read_partition, partition)

    async def _read_partition(self, partition: Partition) -> None:
        """Read one partition's task streams until stopped. With one partition a blocking read
        asks for every free slot. With several, each partition's reader waits for one task at a
        time and, once it got one, reads what is there without waiting for as long as it finds
        some: a busy partition gets every free slot while the idle ones hold one each."""
        streams = {partition.task_stream(kind): ">" for kind in self.kinds}
        several = self.keys.partitions > 1
        busy = False
        while not self._stopping.is_set():
            if self._free <= 0:  # wait for a free slot before reading more
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            take = self._free if busy or not several else 1
            self._reserved += take
            try:
                batch = await self._read(streams, take, wait=not busy)
            finally:
                self._reserved -= take
            busy = several and bool(batch)
            if not batch and self.settings.burst and await self._idle():
                self.stop()
            for stream, entry in batch:
                self._start(self._delivery(stream, entry, partition.index))

    async def _read(
        self, streams: dict[str, str], count: int, *, wait: bool = True
    ) -> list[tuple[str, Entry]]:
        """New deliveries; none (after a pause) while the store is away."""
        try:
            block_ms = self.settings.block_ms if wait else None
            found = await self._reader.read(streams, count=count, block_ms=block_ms)
        except Exception as exc:  # a worker outlives its store's failures
            if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                await self.queue.ensure_groups(self.kinds)  # a stream was deleted: start again
            else:
                await self._pause("read", exc)
            return []
        self._outages = 0
        return found

    async def _pause(self, step: str, exc: Exception) -> None:
        """After a failed step: one line while the store is away (a traceback for anything
        else, such as redis-py 8.1 leaking AttributeError from a connection torn down during a
        failover), then a pause that grows while the failures last."""
        self._outages += 1
        if isinstance(exc, OUTAGES):
            log.warning("worker.store_unavailable", step=step, error=str(exc))
        else:
            log.exception("worker.step_failed", step=step)
        await anyio.sleep(_OUTAGE_BACKOFF.compute(self._outages))

    def _start(self, delivery: Delivery) -> None:
        """Run the delivery's handler as its own asyncio task (cheaper than a task group's);
        the task takes itself off ``_handling`` when it ends (cheaper than a done callback or
        looking up the current task)."""
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._handle(delivery))
        self._handling[id(delivery)] = task

    async def _drain(self) -> None:
        """Let the tasks in flight finish within the grace period; cancel the rest (another
        worker claims them after the visibility timeout)."""
        if self._in_flight:
            self._quiet.clear()
            try:
                await asyncio.wait_for(self._quiet.wait(), self.settings.grace_s)
            except TimeoutError:
                log.warning("worker.cancelling", in_flight=self._in_flight, left="for reclaim")
                for task in list(self._handling.values()):
                    task.cancel()
                await asyncio.gather(*self._handling.values(), return_exceptions=True)

    @staticmethod
    def _delivery(stream: str, entry: Entry, partition: int) -> Delivery:
        entry_id, raw = entry
        try:
            return Delivery(stream, entry_id, raw, decode_task(raw), partition=partition)
        except (ValueError, TypeError) as exc:  # msgspec's DecodeError and ValidationError
            problem = str(exc) or "empty entry"
            return Delivery(stream, entry_id, raw, None, problem=problem, partition=partition)

    async def _handle(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            await self._run_one(delivery, started)
        finally:
            del self._handling[id(delivery)]
            self._in_flight -= 1
            self._slot_free.set()
            if not self._in_flight:
                self._quiet.set()

    async def _run_one(self, delivery: Delivery, started: float) -> None:
        task = delivery.task
        if task is None:
            await self._settle(delivery, "MalformedTask", delivery.problem or "", final=True)
            return
        handler = self.handlers.get(task.kind)
        if handler is None:
            await self._settle(delivery, "UnknownKind", f"no handler for {task.kind!r}", final=True)
            return
        # Each delivery runs in its own asyncio task, whose context copy ends with it: bind
        # (structlog's ``task`` and ``brand`` fields, see _context_vars) without unbinding.
        self._task_var.set(task.task_id)
        self._brand_var.set(task.brand)
        try:
            result = await handler(task, self.context)
        except Retry as exc:
            await self._settle(delivery, "Retry", str(exc), defer_s=exc.defer_s)
        except Reject as exc:
            await self._settle(delivery, "Reject", str(exc), final=True)
        except Exception as exc:
            log.warning("task.failed", kind=task.kind, attempt=task.attempt, error=repr(exc))
            await self._settle(delivery, type(exc).__name__, str(exc))
        else:
            self._complete(delivery, task, result, started)

    def _complete(self, delivery: Delivery, task: Task, result: Any, started: float) -> None:
        report = ResultReport(
            task_id=task.task_id, kind=task.kind, brand=task.brand, worker_id=self.worker_id,
            attempt=task.attempt, fence=task.fence, chunk_id=task.chunk_id, result=result,
            duration_ms=round((time.perf_counter() - started) * 1000, 3), finished_at=utcnow(),
        )  # fmt: skip
        self._done.append((delivery, report))
        self.counters.processed += 1
        self._flush_wanted.set()

    async def _settle(
        self,
        delivery: Delivery,
        kind: str,
        message: str,
        *,
        final: bool = False,
        defer_s: float | None = None,
    ) -> None:
        """Report the failure, then retry or dead-letter the delivery (which acknowledges it)."""
        task = delivery.task
        final = final or task is None or task.attempt >= task.max_attempts
        retry_at_ms = None if final else self._retry_at_ms(task, defer_s)
        error = TaskError(type=kind, message=message[:2000], retryable=not final)
        if task is not None:
            await self._report_failure(delivery, task, error, final)
        verdict = await self.queue.fail(delivery, error, self.worker_id, retry_at_ms)
        self.counters.failed += 1
        self.counters.dead += verdict == "dead"
        self.counters.retried += verdict == "retry"
        log.info("task.settled", verdict=verdict, error=kind, reason=message[:200])

    def _retry_at_ms(self, task: Task | None, defer_s: float | None) -> int:
        s = self.settings
        delay_ms = (
            int(defer_s * 1000)
            if defer_s is not None
            else backoff_ms(
                task.attempt if task else 1, base_ms=s.backoff_base_ms, cap_ms=s.backoff_cap_ms
            )
        )
        return int(time.time() * 1000) + delay_ms

    async def _report_failure(
        self, delivery: Delivery, task: Task, error: TaskError, final: bool
    ) -> None:
        report = FailureReport(
            task_id=task.task_id, kind=task.kind, brand=task.brand, worker_id=self.worker_id,
            attempt=task.attempt, fence=task.fence, chunk_id=task.chunk_id, error=error,
            final=final, duration_ms=0.0, finished_at=utcnow(),
        )  # fmt: skip
        stream = self.keys.partition(delivery.partition).result_stream
        await self.redis.xadd(stream, {FIELD: encode(report)})

    async def _flush_forever(self) -> None:
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted = anyio.Event()
            try:
                await self._flush()
            except Exception as exc:  # the batch is back in line, published later
                await self._pause("flush", exc)
                self._flush_wanted.set()

    async def _flush(self) -> None:
        """Publish the finished tasks' results, then acknowledge and delete their entries: two
        steps, as on a cluster one pipeline would send both to their nodes at once. If either
        fails the batch goes back in line (a result published twice is applied once)."""
        if not self._done:
            return
        batch, self._done = self._done, []
        by_stream: dict[str, list[bytes]] = {}
        reports: dict[int, list[bytes]] = {}  # partition → its results
        for delivery, report in batch:
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
            reports.setdefault(delivery.partition, []).append(encode(report))
        streams = [self.keys.partition(index).result_stream for index in reports]
        confirm = self._durability.enabled  # results confirmed by replicas before any ack
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, encoded in zip(streams, reports.values(), strict=True):
                    lengths = encode([len(report) for report in encoded])
                    self._publish.queue(pipe, [stream], [lengths, b"".join(encoded)])
                if not confirm:
                    self._queue_acks(pipe, by_stream)
                await self._durability.execute(pipe, streams)
            if confirm:
                async with self.redis.pipeline(transaction=False) as pipe:
                    self._queue_acks(pipe, by_stream)
                    await pipe.execute()
        except BaseException:
            self._done[:0] = batch
            raise

    def _queue_acks(self, pipe: Pipeline, by_stream: dict[str, list[bytes]]) -> None:
        for stream, ids in by_stream.items():
            self._ack.queue(pipe, [stream], [WORKERS_GROUP, b" ".join(ids)])

    async def _reclaim_forever(self) -> None:
        every_s = max(0.1, self.settings.visibility_timeout_s / 2)
        while not self._stopping.is_set():
            with anyio.move_on_after(every_s):
                await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self.queue.promote(self.kinds)
                for partition in self.keys.all_partitions:
                    for kind in self.kinds:
                        await self._reclaim(partition, kind)
            except Exception as exc:  # the next round claims what this one could not
                await self._pause("reclaim", exc)

    async def _reclaim(self, partition: Partition, kind: str) -> None:
        """Claim deliveries another worker left pending past the visibility timeout."""
        idle_ms = int(self.settings.visibility_timeout_s * 1000)
        stream = partition.task_stream(kind)
        reply = await self.redis.xautoclaim(
            stream,
            WORKERS_GROUP,
            self.worker_id,
            min_idle_time=idle_ms,
            count=self.settings.concurrency,
        )
        claimed = entries(reply[1])
        for entry in claimed:
            self.counters.reclaimed += 1
            delivery = self._delivery(stream, entry, partition.index)
            if await self._delivered_too_often(delivery):
                await self._settle(delivery, "WorkerLost", "delivered too often", final=True)
                continue
            self._start(delivery)
        if claimed:
            log.info("tasks.reclaimed", count=len(claimed))

    async def _delivered_too_often(self, delivery: Delivery) -> bool:
        task = delivery.task
        if task is None:
            return False
        pending = await self.redis.xpending_range(
            delivery.stream, WORKERS_GROUP, delivery.entry_id, delivery.entry_id, 1
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        return task.attempt - 1 + deliveries > task.max_attempts

    async def _idle(self) -> bool:
        """Burst mode: nothing in flight, nothing new, nothing pending, no retry waiting."""
        if self._in_flight or self._done:
            return False
        await self.queue.promote(self.kinds)
        for partition in self.keys.all_partitions:
            for kind in self.kinds:
                state = await self.queue.stream_state(partition.task_stream(kind), WORKERS_GROUP)
                waiting = await self.redis.zcard(partition.task_delayed(kind))
                if state.length or state.pending or waiting:
                    return False
        return True
