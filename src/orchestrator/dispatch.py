"""The task streams in Redis: dispatch, completion, retry, dead letters and their statistics.

Every step that changes the caps (tasks in flight per brand and in all, chunks in flight) is one
Lua script on the ``{tasks}`` hash slot, so a crash between two commands never leaves a count
wrong. Workers acknowledge a task only after publishing its result or failure report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from orchestrator.keys import Keys
from orchestrator.leader import Lease
from orchestrator.protocol import (
    DeadLetter,
    Delivery,
    Task,
    TaskError,
    decode_dead,
    encode,
    utcnow,
)
from orchestrator.store.scripts import load_script
from orchestrator.store.streams import read_range
from orchestrator.types import ScriptArg, text

log = structlog.get_logger(__name__)

WORKERS_GROUP = "workers"
COLLECTORS_GROUP = "collectors"


def released(reply: list[bytes | None]) -> list[str | None]:
    """Per task given to ``done``: its brand, or None when it was done already."""
    return [text(brand) if isinstance(brand, bytes) else None for brand in reply]


class ActiveEntry(msgspec.Struct, frozen=True):
    """What ``task_active`` records of a task in flight."""

    brand: str
    kind: str
    chunk: str | None
    dispatched_ms: int


@dataclass(frozen=True)
class StreamStats:
    name: str
    length: int
    pending: int
    lag: int | None
    oldest_pending_ms: int | None


@dataclass(frozen=True)
class DeadPage:
    letters: list[tuple[str, DeadLetter]]  # (entry id, letter), oldest first
    next_cursor: str | None


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class TaskQueue:
    """The task, retry and dead-letter structures, shared by scheduler, workers and API."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._dispatch = load_script(redis, "task_dispatch")
        self._done = load_script(redis, "task_done")
        self._fail = load_script(redis, "task_fail")
        self._promote = load_script(redis, "task_promote")
        self._redrive = load_script(redis, "task_redrive")

    async def ensure_groups(self, kinds: Sequence[str] = ()) -> None:
        """The results group and, for each of ``kinds``, its task stream's workers group."""
        for kind in kinds:
            await ensure_group(self.redis, self.keys.task_stream(kind), WORKERS_GROUP)
        await ensure_group(self.redis, self.keys.result_stream, COLLECTORS_GROUP)

    async def kinds(self) -> list[str]:
        return sorted(text(kind) for kind in await self.redis.smembers(self.keys.task_kinds))

    async def dispatch(
        self, lease: Lease, tasks: Sequence[tuple[Task, int]], global_max: int
    ) -> list[str]:
        """Offer each (task, brand cap) in one round trip; the verdict of each, in order."""
        k = self.keys
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for task, brand_max in tasks:
                keys = [
                    k.leader, k.fence, k.task_stream(task.kind), k.task_in_flight, k.task_chunks,
                    k.task_active, k.task_dead_chunks, k.task_kinds,
                ]  # fmt: skip
                entry = ActiveEntry(task.brand, task.kind, task.chunk_id, now_ms)
                args: list[ScriptArg] = [
                    lease.owner, lease.fence, task.brand, brand_max, global_max,
                    task.chunk_id or "", task.task_id, encode(task), encode(entry), task.kind,
                ]  # fmt: skip
                self._dispatch.queue(pipe, keys, args)
            verdicts = await pipe.execute()
        return [verdict.decode() for verdict in verdicts]

    async def done(self, task_ids: Sequence[str]) -> list[str | None]:
        """Release completed tasks' places in the caps, in one script call; per task, its
        brand, or None when it was done already (a duplicate report)."""
        if not task_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_done(pipe, task_ids)
            (reply,) = await pipe.execute()
        return released(reply)

    def queue_done(self, pipe: Pipeline, task_ids: Sequence[str]) -> None:
        """``done`` as one more command of ``pipe``; read its reply with ``released``."""
        k = self.keys
        keys = [k.task_active, k.task_in_flight, k.task_chunks]
        self._done.queue(pipe, keys, list(task_ids))

    async def fail(
        self, delivery: Delivery, error: TaskError, worker_id: str, retry_at_ms: int | None
    ) -> str:
        """Acknowledge a failed delivery and schedule its retry (``retry_at_ms``) or dead-letter
        it. Returns "retry", "dead" or "stale" (already settled by someone else)."""
        task = delivery.task
        k = self.keys
        delayed = k.task_delayed(task.kind if task else "-")
        keys = [
            delivery.stream, delayed, k.task_dead, k.task_dead_index, k.task_dead_chunks,
            k.task_active, k.task_in_flight, k.task_chunks,
        ]  # fmt: skip
        retry = b""
        if task is not None and retry_at_ms is not None:
            retry = encode(msgspec.structs.replace(task, attempt=task.attempt + 1))
        letter = DeadLetter(
            task=task,
            raw=None if task else delivery.raw.decode(errors="replace"),
            error=error,
            worker_id=worker_id,
            attempts=task.attempt if task else 1,
            dead_at=utcnow(),
        )
        args: list[ScriptArg] = [
            WORKERS_GROUP, delivery.entry_id, task.task_id if task else "", retry, retry_at_ms or 0,
            encode(letter), (task.chunk_id or "") if task else "",
        ]  # fmt: skip
        verdict: bytes = await self._fail(keys=keys, args=args)
        return verdict.decode()

    async def promote(self, kinds: Sequence[str], limit: int = 1000) -> int:
        """Move retries of ``kinds`` that are due onto their streams; how many moved."""
        if not kinds:
            return 0
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                keys = [self.keys.task_delayed(kind), self.keys.task_stream(kind)]
                self._promote.queue(pipe, keys, [now_ms, limit])
            moved: list[int] = await pipe.execute()
        return sum(moved)

    async def redrive(self, task_id: str) -> bool:
        """Put a dead-lettered task back on the stream as a fresh first attempt."""
        letter = await self.dead_letter(task_id)
        if letter is None or letter.task is None:
            return await self.delete_dead(task_id) if letter else False
        task = msgspec.structs.replace(letter.task, attempt=1, not_before=None)
        entry = ActiveEntry(task.brand, task.kind, task.chunk_id, int(time.time() * 1000))
        args: list[ScriptArg] = [
            task_id,
            encode(task),
            task.brand,
            task.chunk_id or "",
            encode(entry),
        ]
        return bool(await self._redrive(keys=self._redrive_keys(task.kind), args=args))

    async def delete_dead(self, task_id: str) -> bool:
        args = [task_id, "", "", "", ""]
        return bool(await self._redrive(keys=self._redrive_keys("-"), args=args))

    async def dead_letter(self, task_id: str) -> DeadLetter | None:
        entry_id = await self.redis.hget(self.keys.task_dead_index, task_id)
        if entry_id is None:
            return None
        found = await read_range(self.redis, self.keys.task_dead, entry_id, entry_id)
        return decode_dead(found[0][1]) if found else None

    async def dead_page(self, limit: int, cursor: str | None) -> DeadPage:
        start = f"({cursor}" if cursor else "-"
        found = await read_range(self.redis, self.keys.task_dead, start, "+", count=limit + 1)
        letters = [(entry_id.decode(), decode_dead(message)) for entry_id, message in found]
        more = len(letters) > limit
        letters = letters[:limit]
        return DeadPage(letters, letters[-1][0] if more else None)

    async def in_flight(self) -> dict[str, int]:
        counts = await self.redis.hgetall(self.keys.task_in_flight)
        return {text(brand): int(count) for brand, count in counts.items()}

    async def stream_stats(self) -> list[StreamStats]:
        pairs = [(self.keys.task_stream(kind), WORKERS_GROUP) for kind in await self.kinds()]
        pairs.append((self.keys.result_stream, COLLECTORS_GROUP))
        dead = StreamStats(
            self.keys.task_dead, await self.redis.xlen(self.keys.task_dead), 0, None, None
        )
        return [*[await self.stream_state(stream, group) for stream, group in pairs], dead]

    async def stream_state(self, stream: str, group: str) -> StreamStats:
        length = await self.redis.xlen(stream)
        groups = {g["name"].decode(): g for g in await self._groups(stream)}
        info: dict[str, Any] = groups.get(group, {})
        oldest_ms = None
        if info.get("pending"):  # may be settled meanwhile: XPENDING then finds none
            for oldest in await self.redis.xpending_range(stream, group, "-", "+", 1):
                oldest_ms = int(oldest["time_since_delivered"])
        return StreamStats(stream, length, int(info.get("pending", 0)), info.get("lag"), oldest_ms)

    async def _groups(self, stream: str) -> list[dict[str, Any]]:
        try:
            groups: list[dict[str, Any]] = await self.redis.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            return []
        return groups

    def _redrive_keys(self, kind: str) -> list[str]:
        k = self.keys
        return [
            k.task_dead, k.task_dead_index, k.task_dead_chunks, k.task_stream(kind),
            k.task_active, k.task_in_flight, k.task_chunks,
        ]  # fmt: skip
