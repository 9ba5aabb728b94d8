"""Typed reads of the service's streams, whose entries carry one JSON message in field ``m``."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

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
