"""Typed reads of the service's streams, whose entries carry one JSON message in field ``m``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster

from orchestrator.protocol import FIELD
from orchestrator.types import text

Entry = tuple[bytes, bytes]  # (entry id, message JSON)


def entries(reply: Any) -> list[Entry]:
    """``[(id, {b"m": json}), ...]`` from XRANGE/XREADGROUP/XAUTOCLAIM as (id, json) pairs;
    an entry without the field (or deleted while pending) carries an empty message."""
    pairs = cast(list[tuple[bytes, dict[bytes, bytes] | None]], reply or [])
    return [(entry_id, (fields or {}).get(FIELD, b"")) for entry_id, fields in pairs]


async def read_range(
    redis: Redis, stream: str, start: str | bytes, end: str | bytes, count: int | None = None
) -> list[Entry]:
    return entries(await redis.xrange(stream, start, end, count=count))


async def read_range_reverse(
    redis: Redis, stream: str, end: str | bytes, start: str | bytes, count: int | None = None
) -> list[Entry]:
    """Newest first, from ``end`` down to ``start``."""
    return entries(await redis.xrevrange(stream, end, start, count=count))


def group_entries(reply: Any) -> list[tuple[str, Entry]]:
    """(stream, entry) for each entry of an XREADGROUP/XREAD reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    pairs = (
        [(name, value[0]) for name, value in reply.items()] if isinstance(reply, dict) else reply
    )
    found_by_stream = [(text(stream), entries(found)) for stream, found in pairs]
    return [(stream, entry) for stream, found in found_by_stream for entry in found]


@dataclass(frozen=True)
class GroupReader:
    """Reads streams through a consumer group, as one consumer. On a cluster each read goes
    straight to the primary of the streams' slot: redis-py would otherwise ask a node
    ``COMMAND GETKEYS`` before every read, since ``XREADGROUP``'s keys move."""

    redis: Redis
    group: str
    consumer: str

    async def read(
        self, streams: dict[str, str], *, count: int, block_ms: int | None
    ) -> list[tuple[str, Entry]]:
        """(stream, entry) pairs from ``streams`` (name → last id, ``>`` for new entries; on a
        cluster all of one hash slot)."""
        pieces: list[str | int] = ["GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms is not None:
            pieces += ["BLOCK", block_ms]
        pieces += ["STREAMS", *streams, *streams.values()]
        options: dict[str, Any] = {}
        if isinstance(self.redis, RedisCluster):
            options["target_nodes"] = self.redis.get_node_from_key(next(iter(streams)))
        reply = await self.redis.execute_command("XREADGROUP", *pieces, **options)  # type: ignore[no-untyped-call]
        return group_entries(reply)
