"""The workers as the orchestrator sees them (from their heartbeats), and the gauges of the
task pipeline, refreshed by a small loop on every replica."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal, cast

import msgspec
from redis.asyncio import Redis

from orchestrator.dispatch import TaskQueue
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import Heartbeat, decode_heartbeat
from orchestrator.types import text

_Scored = list[tuple[bytes, float]]
State = Literal["alive", "stale", "gone"]
STATES: tuple[State, ...] = ("alive", "stale", "gone")


class WorkerView(msgspec.Struct, rename="camel", kw_only=True):
    """One worker in ``GET /v1/workers``."""

    id: str
    state: State
    last_seen_at: datetime | None
    host: str | None = None
    pid: int | None = None
    kinds: list[str] = []
    concurrency: int | None = None
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    throughput_per_sec: float | None = None
    version: str | None = None
    started_at: datetime | None = None


def state_of(age_s: float, document_present: bool, stale_after_s: float) -> State:
    """Alive while heartbeats are fresh; stale when late; gone once the document expired."""
    if not document_present:
        return "gone"
    return "alive" if age_s <= stale_after_s else "stale"


def view(worker_id: str, last_ms: int, beat: Heartbeat | None, state: State) -> WorkerView:
    last_seen = datetime.fromtimestamp(last_ms / 1000, UTC) if last_ms else None
    if beat is None:
        return WorkerView(id=worker_id, state=state, last_seen_at=last_seen)
    uptime_s = max(1e-3, (beat.sent_at - beat.started_at).total_seconds())
    return WorkerView(
        id=worker_id, state=state, last_seen_at=last_seen, host=beat.host, pid=beat.pid,
        kinds=beat.kinds, concurrency=beat.concurrency, in_flight=beat.in_flight,
        processed=beat.processed, failed=beat.failed,
        throughput_per_sec=round(beat.processed / uptime_s, 3), version=beat.version,
        started_at=beat.started_at,
    )  # fmt: skip


class Fleet:
    def __init__(
        self, redis: Redis, keys: Keys, stale_after_s: float = 15.0, forget_after_s: float = 3600
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.stale_after_s = stale_after_s
        self.forget_after_s = forget_after_s

    async def workers(self) -> list[WorkerView]:
        now_ms = int(time.time() * 1000)
        await self.redis.zremrangebyscore(
            self.keys.workers, "-inf", now_ms - int(self.forget_after_s * 1000)
        )
        reply = await self.redis.zrange(self.keys.workers, 0, -1, withscores=True)
        known = [(text(worker_id), int(score)) for worker_id, score in cast(_Scored, reply)]
        # one GET each, pipelined: the heartbeats (their names are the protocol's) lie in
        # several hash slots on a cluster, where one MGET would be refused
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id, _ in known:
                pipe.get(self.keys.worker(worker_id))
            documents = await pipe.execute() if known else []
        views = []
        for (worker_id, last_ms), document in zip(known, documents, strict=True):
            beat = decode_heartbeat(document) if document else None
            state = state_of((now_ms - last_ms) / 1000, beat is not None, self.stale_after_s)
            views.append(view(worker_id, last_ms, beat, state))
        return views


class PipelineGauges:
    """Loop step: stream lengths, pending, oldest pending age and workers by state."""

    def __init__(self, queue: TaskQueue, fleet: Fleet, metrics: Metrics, every_s: float = 5.0):
        self.queue = queue
        self.fleet = fleet
        self.metrics = metrics
        self.every_s = every_s

    async def step(self) -> float:
        for stats in await self.queue.stream_stats():
            name = stats.name
            self.metrics.stream_length.labels(name).set(stats.length)
            self.metrics.stream_pending.labels(name).set(stats.pending)
            self.metrics.stream_oldest_pending.labels(name).set(
                (stats.oldest_pending_ms or 0) / 1000
            )
        workers = await self.fleet.workers()
        for state in STATES:
            self.metrics.workers.labels(state).set(sum(w.state == state for w in workers))
        return self.every_s
