"""The scheduler: on the lease holder only, turn due brands into tasks, fairly (and sweep for
tasks lost in a failover, ``lost_tasks``).

Each round reads the due brands from the registry's due-time index (never every brand), in
due-time order: a brand that got work is due again later, so due brands take turns. Per brand
it cuts the mentions backlog into chunks (no more than can be in flight), offers the pending
chunks and, at the brand's interval, a ``collect`` task; the dispatch script enforces the
brand's ``maxInFlight``, the global cap, one flight per chunk, and the fencing token.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator.dispatch import TaskQueue
from orchestrator.keys import Keys
from orchestrator.leader import Lease
from orchestrator.lost_tasks import LostTasks
from orchestrator.metrics import Metrics
from orchestrator.protocol import Task, new_task
from orchestrator.schedule import (
    BrandSettings,
    BrandState,
    chunks_to_cut,
    collect_due,
    decode_brand_settings,
    next_due_ms,
)
from orchestrator.store.scripts import load_script
from orchestrator.types import ScriptArg, text

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SchedulerSettings:
    round_size: int = 200  # due brands looked at per round
    global_max_in_flight: int = 10_000
    max_attempts: int = 5
    idle_tick_s: float = 0.5
    lost_after_s: float = 600.0  # settled by a worker, never released: presumed lost


@dataclass
class _Turn:
    """One brand's turn in a round."""

    settings: BrandSettings
    state: BrandState
    due_ms: int
    offers: list[Task]
    leftover_ready_ms: int = 0  # when mentions left uncut (fewer than a chunk) are cut; 0: none
    waiting: bool = False
    collected: bool = False


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        lease: Lease,
        metrics: Metrics,
        settings: SchedulerSettings | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.lease = lease
        self.metrics = metrics
        self.settings = settings or SchedulerSettings()
        self.queue = TaskQueue(redis, keys)
        self.lost = LostTasks(redis, keys, metrics, self.settings.lost_after_s)
        self._cut = load_script(redis, "chunk_cut")

    async def step(self) -> float:
        """One loop iteration: keep the lease, then (as leader) promote retries and dispatch."""
        try:
            leading = await self.lease.refresh()
        except Exception:
            self.lease.lose()
            raise
        self.metrics.leader.set(1 if leading else 0)
        if not leading:
            return self.lease.renew_every_s
        await self.queue.promote(await self.queue.kinds())
        await self.lost.step()
        more = await self.round()
        return 0.0 if more else min(self.settings.idle_tick_s, self.lease.renew_every_s)

    async def round(self) -> bool:
        """Dispatch to the brands due now; True when a full round was due (more may wait)."""
        now_ms = int(time.time() * 1000)
        due = await self.redis.zrangebyscore(
            self.keys.brand_due, "-inf", now_ms, start=0, num=self.settings.round_size,
            withscores=True,
        )  # fmt: skip
        if not due:
            return False
        pairs = cast(list[tuple[bytes, float]], due)
        turns = await self._turns([(text(slug), int(score)) for slug, score in pairs], now_ms)
        await self._cut_chunks(turns, now_ms)
        await self._offer(turns, now_ms)
        await self._reschedule(turns, now_ms)
        return len(due) == self.settings.round_size

    async def _turns(self, due: list[tuple[str, int]], now_ms: int) -> dict[str, _Turn]:
        slugs = [slug for slug, _ in due]
        k = self.keys
        by_partition: dict[str, list[str]] = defaultdict(list)  # in-flight hash → its slugs
        for slug in slugs:
            by_partition[k.partition_for(slug).task_in_flight].append(slug)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(k.brand_docs, slugs)
            for counts, members in by_partition.items():
                pipe.hmget(counts, members)
            for slug in slugs:
                pipe.hget(k.schedule_state(slug), "collectAt")
                pipe.hlen(k.pending_chunks(slug))
            docs, *replies = await pipe.execute()
        in_flight: dict[str, int] = {}
        for members, counts in zip(by_partition.values(), replies, strict=False):
            in_flight.update(
                (slug, int(count or 0)) for slug, count in zip(members, counts, strict=True)
            )
        states = replies[len(by_partition) :]
        turns: dict[str, _Turn] = {}
        gone: list[str] = []
        for i, (slug, due_ms) in enumerate(due):
            settings = _settings(docs[i])
            if settings is None or settings.status != "active":
                gone.append(slug)
                continue
            state = BrandState(in_flight[slug], int(states[2 * i + 1]), int(states[2 * i] or 0))
            turns[slug] = _Turn(settings, state, due_ms, [])
        if gone:  # deleted or paused since they were indexed
            await self.redis.zrem(k.brand_due, *gone)
        return turns

    async def _cut_chunks(self, turns: dict[str, _Turn], now_ms: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug, turn in turns.items():
                s = turn.settings
                keys = [
                    self.keys.mentions(slug),
                    self.keys.schedule_state(slug),
                    self.keys.pending_chunks(slug),
                ]
                args: list[ScriptArg] = [
                    slug,
                    s.chunk_size,
                    now_ms,
                    s.interval_ms,
                    chunks_to_cut(s, turn.state),
                ]
                self._cut.queue(pipe, keys, args)
            for slug in turns:
                pipe.hgetall(self.keys.pending_chunks(slug))
            replies = await pipe.execute()
        ready_at, pending_by_brand = replies[: len(turns)], replies[len(turns) :]
        for (slug, turn), ready_ms, pending in zip(
            turns.items(), ready_at, pending_by_brand, strict=True
        ):
            turn.leftover_ready_ms = int(ready_ms)
            chunks = sorted(pending.values(), key=lambda doc: _chunk_seq(doc, slug))
            for doc in chunks[: turn.settings.max_in_flight]:
                turn.offers.append(self._task("analyze", slug, msgspec.json.decode(doc)))

    async def _offer(self, turns: dict[str, _Turn], now_ms: int) -> None:
        for slug, turn in turns.items():
            if collect_due(turn.settings, turn.state, now_ms):
                turn.offers.append(self._task("collect", slug, {}))
        offers = [
            (task, turns[task.brand].settings.max_in_flight)
            for t in turns.values()
            for task in t.offers
        ]
        if not offers:
            return
        verdicts = await self.queue.dispatch(self.lease, offers, self.settings.global_max_in_flight)
        for (task, _), verdict in zip(offers, verdicts, strict=True):
            await self._account(turns[task.brand], task, verdict, now_ms)

    async def _account(self, turn: _Turn, task: Task, verdict: str, now_ms: int) -> None:
        if verdict == "ok":
            self.metrics.tasks_dispatched.labels(task.kind).inc()
            self.metrics.dispatch_lag.observe(max(0, now_ms - turn.due_ms) / 1000)
            turn.collected |= task.kind == "collect"
        elif verdict in ("full", "saturated"):
            turn.waiting = True
        elif verdict == "dead" and task.chunk_id:  # its chunk was dead-lettered: stop offering it
            await self.redis.hdel(self.keys.pending_chunks(task.brand), task.chunk_id)
        elif verdict == "not-leader":
            self.lease.lose()

    async def _reschedule(self, turns: dict[str, _Turn], now_ms: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug, turn in turns.items():
                last_collect = now_ms if turn.collected else turn.state.last_collect_ms
                if turn.collected:
                    pipe.hset(self.keys.schedule_state(slug), "collectAt", now_ms)
                due = next_due_ms(
                    turn.settings,
                    now_ms=now_ms,
                    last_collect_ms=last_collect,
                    waiting=turn.waiting,
                    leftover_ready_ms=turn.leftover_ready_ms,
                )
                pipe.zadd(self.keys.brand_due, {slug: due}, xx=True)
            await pipe.execute()

    def _task(self, kind: str, slug: str, payload: dict[str, object]) -> Task:
        return new_task(
            kind, slug, payload, fence=self.lease.fence, max_attempts=self.settings.max_attempts
        )


def _settings(document: bytes | None) -> BrandSettings | None:
    if document is None:
        return None
    try:
        return decode_brand_settings(document)
    except msgspec.DecodeError:
        log.exception("scheduler.bad_brand_document")
        return None


def _chunk_seq(document: bytes, slug: str) -> int:
    chunk_id: str = msgspec.json.decode(document)["chunkId"]
    return int(chunk_id.removeprefix(f"{slug}-"))
