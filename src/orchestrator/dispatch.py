"""The task streams in Redis: dispatch, completion, retry, dead letters and their statistics.

Every step that changes the caps (tasks in flight per brand and in all, chunks in flight) is one
Lua script on the hash slot of the brand's partition (``Keys.partition_for``), so a crash between
two commands never leaves a count wrong. Workers acknowledge a task only after publishing its
result or failure report on the results stream of the same partition.
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

from orchestrator.keys import Keys, Partition
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
    dead: bool = False  # a dead-letter stream (no consumer group)


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
        """In every partition: the results group and, for each of ``kinds``, its task stream's
        workers group."""
        for partition in self.keys.all_partitions:
            for kind in kinds:
                await ensure_group(self.redis, partition.task_stream(kind), WORKERS_GROUP)
            await ensure_group(self.redis, partition.result_stream, COLLECTORS_GROUP)

    async def kinds(self) -> list[str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in self.keys.all_partitions:
                pipe.smembers(partition.task_kinds)
            found: list[set[bytes]] = await pipe.execute()
        return sorted({text(kind) for kinds in found for kind in kinds})

    async def dispatch(
        self, lease: Lease, tasks: Sequence[tuple[Task, int]], global_max: int
    ) -> list[str]:
        """Offer each (task, brand cap) in one round trip; the verdict of each, in order.

        Each partition's script checks its own count against its share of ``global_max``:
        with one partition the cap itself; with several, what the others left room for
        (read first: only the leader adds tasks, so counts can only have fallen since)."""
        caps = await self._partition_caps(tasks, global_max)
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for task, brand_max in tasks:
                p = self.keys.partition_for(task.brand)
                keys = [
                    p.leader, p.fence, p.task_stream(task.kind), p.task_in_flight, p.task_chunks,
                    p.task_active, p.task_dead_chunks, p.task_kinds, p.task_entries,
                ]  # fmt: skip
                entry = ActiveEntry(task.brand, task.kind, task.chunk_id, now_ms)
                args: list[ScriptArg] = [
                    lease.owner, lease.fence, task.brand, brand_max, caps[p.index],
                    task.chunk_id or "", task.task_id, encode(task), encode(entry), task.kind,
                ]  # fmt: skip
                self._dispatch.queue(pipe, keys, args)
            verdicts = await pipe.execute()
        return [verdict.decode() for verdict in verdicts]

    async def _partition_caps(
        self, tasks: Sequence[tuple[Task, int]], global_max: int
    ) -> dict[int, int]:
        partitions = self.keys.all_partitions
        if len(partitions) == 1:
            return {0: global_max}
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in partitions:
                pipe.hget(partition.task_in_flight, "*")
            counts = [int(count or 0) for count in await pipe.execute()]
        room = max(0, global_max - sum(counts))
        caps = dict(enumerate(counts))
        for task, _ in tasks:  # the room goes to the offers in their order
            if room == 0:
                break
            caps[self.keys.partition_for(task.brand).index] += 1
            room -= 1
        return caps

    async def done(self, partition: Partition, task_ids: Sequence[str]) -> list[str | None]:
        """Release completed tasks' places in the caps, in one script call; per task, its
        brand, or None when it was done already (a duplicate report)."""
        if not task_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_done(pipe, partition, task_ids)
            (reply,) = await pipe.execute()
        return released(reply)

    def queue_done(self, pipe: Pipeline, partition: Partition, task_ids: Sequence[str]) -> None:
        """``done`` as one more command of ``pipe``; read its reply with ``released``."""
        p = partition
        keys = [p.task_active, p.task_in_flight, p.task_chunks, p.task_entries]
        self._done.queue(pipe, keys, [encode(list(task_ids))])

    async def fail(
        self, delivery: Delivery, error: TaskError, worker_id: str, retry_at_ms: int | None
    ) -> str:
        """Acknowledge a failed delivery and schedule its retry (``retry_at_ms``) or dead-letter
        it. Returns "retry", "dead" or "stale" (already settled by someone else)."""
        task = delivery.task
        p = self.keys.partition(delivery.partition)
        delayed = p.task_delayed(task.kind if task else "-")
        keys = [
            delivery.stream, delayed, p.task_dead, p.task_dead_index, p.task_dead_chunks,
            p.task_active, p.task_in_flight, p.task_chunks, p.task_entries,
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

    async def promote(
        self, kinds: Sequence[str], partitions: Sequence[Partition] | None = None, limit: int = 1000
    ) -> int:
        """Move retries of ``kinds`` that are due onto their streams (in ``partitions``, by
        default all); how many moved."""
        if not kinds:
            return 0
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in self.keys.all_partitions if partitions is None else partitions:
                for kind in kinds:
                    keys = [
                        partition.task_delayed(kind), partition.task_stream(kind),
                        partition.task_active, partition.task_entries,
                    ]  # fmt: skip
                    self._promote.queue(pipe, keys, [now_ms, limit])
            moved: list[int] = await pipe.execute()
        return sum(moved)

    async def redrive(self, task_id: str) -> bool:
        """Put a dead-lettered task back on the stream as a fresh first attempt."""
        found = await self._find_dead(task_id)
        if found is None:
            return False
        partition, letter = found
        if letter is None or letter.task is None:
            return await self._delete_dead(partition, task_id)
        task = msgspec.structs.replace(letter.task, attempt=1, not_before=None)
        entry = ActiveEntry(task.brand, task.kind, task.chunk_id, int(time.time() * 1000))
        args: list[ScriptArg] = [
            task_id,
            encode(task),
            task.brand,
            task.chunk_id or "",
            encode(entry),
        ]
        keys = self._redrive_keys(partition, task.kind)
        return bool(await self._redrive(keys=keys, args=args))

    async def delete_dead(self, task_id: str) -> bool:
        found = await self._find_dead(task_id)
        return found is not None and await self._delete_dead(found[0], task_id)

    async def _delete_dead(self, partition: Partition, task_id: str) -> bool:
        args = [task_id, "", "", "", ""]
        return bool(await self._redrive(keys=self._redrive_keys(partition, "-"), args=args))

    async def dead_letter(self, task_id: str) -> DeadLetter | None:
        found = await self._find_dead(task_id)
        return found[1] if found else None

    async def _find_dead(self, task_id: str) -> tuple[Partition, DeadLetter | None] | None:
        """The partition whose dead-letter index names ``task_id``, and the letter (None when
        the index outlived its entry)."""
        partitions = self.keys.all_partitions
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in partitions:
                pipe.hget(partition.task_dead_index, task_id)
            entry_ids = await pipe.execute()
        for partition, entry_id in zip(partitions, entry_ids, strict=True):
            if entry_id is not None:
                found = await read_range(self.redis, partition.task_dead, entry_id, entry_id)
                return partition, decode_dead(found[0][1]) if found else None
        return None

    async def dead_page(self, limit: int, cursor: str | None) -> DeadPage:
        """Dead letters of every partition, oldest first, after ``cursor``: the last entry id of
        the previous page, followed by ``.<partition>`` when there are several (letters of two
        partitions may share an entry id; the partition breaks the tie)."""
        after = _DeadCursor.parse(cursor)
        letters: list[tuple[tuple[int, int, int], str, DeadLetter]] = []
        for partition in self.keys.all_partitions:
            start = after.start_for(partition.index)
            found = await read_range(self.redis, partition.task_dead, start, "+", count=limit + 1)
            for entry_id, message in found:
                entry = entry_id.decode()
                order = (*_entry_order(entry), partition.index)
                letters.append((order, entry, decode_dead(message)))
        letters.sort(key=lambda item: item[0])
        more = len(letters) > limit
        page = letters[:limit]
        next_cursor = None
        if more:
            (*_, last_partition), last_entry, _ = page[-1]
            several = self.keys.partitions > 1
            next_cursor = f"{last_entry}.{last_partition}" if several else last_entry
        return DeadPage([(entry, letter) for _, entry, letter in page], next_cursor)

    async def in_flight(self) -> dict[str, int]:
        """Tasks in flight per brand, and ``*``: in all partitions."""
        totals: dict[str, int] = {}
        for partition in self.keys.all_partitions:
            for brand, count in (await self.redis.hgetall(partition.task_in_flight)).items():
                name = text(brand)
                totals[name] = totals.get(name, 0) + int(count)
        return totals

    async def stream_stats(self) -> list[StreamStats]:
        """Every partition's task streams, results stream and dead-letter stream."""
        kinds = await self.kinds()
        stats: list[StreamStats] = []
        for partition in self.keys.all_partitions:
            for kind in kinds:
                stats.append(await self.stream_state(partition.task_stream(kind), WORKERS_GROUP))
            stats.append(await self.stream_state(partition.result_stream, COLLECTORS_GROUP))
            dead = partition.task_dead
            stats.append(StreamStats(dead, await self.redis.xlen(dead), 0, None, None, dead=True))
        return stats

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

    @staticmethod
    def _redrive_keys(p: Partition, kind: str) -> list[str]:
        return [
            p.task_dead, p.task_dead_index, p.task_dead_chunks, p.task_stream(kind),
            p.task_active, p.task_in_flight, p.task_chunks, p.task_entries,
        ]  # fmt: skip


@dataclass(frozen=True)
class _DeadCursor:
    entry: str | None
    partition: int

    @classmethod
    def parse(cls, cursor: str | None) -> _DeadCursor:
        if cursor is None:
            return cls(None, 0)
        entry, _, partition = cursor.partition(".")
        return cls(entry, int(partition or 0))

    def start_for(self, partition: int) -> str:
        """XRANGE start in ``partition``: after the cursor's entry, or at it in a later one."""
        if self.entry is None:
            return "-"
        return f"({self.entry}" if partition <= self.partition else self.entry


def _entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
