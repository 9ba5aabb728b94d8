"""Typed reads of the service's streams, whose entries carry one JSON message in field ``m``."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _message(fields: list[bytes] | None) -> bytes:
    """The field ``m`` of an entry as the server sends it (``[name, value, ...]``, None once
    deleted while pending); the last one wins, as in redis-py's parsed replies."""
    if not fields:
        return b""
    if len(fields) == 2 and fields[0] == FIELD:
        return fields[1]
    return dict(zip(fields[::2], fields[1::2], strict=False)).get(FIELD, b"")


def unparsed_group_entries(reply: Any) -> list[tuple[str, Entry]]:
    """:func:`group_entries` of an XREADGROUP/XREAD reply as the server sent it (RESP2 list
    or RESP3 map of stream to entries), without redis-py's dict per entry."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    found_by_stream = [(text(stream), found) for stream, found in pairs]
    return [
        (stream, (entry_id, _message(fields)))
        for stream, found in found_by_stream
        for entry_id, fields in found
    ]


def _unparsed(response: Any, **_: Any) -> Any:
    return response


@dataclass
class GroupReader:
    """Reads streams through a consumer group, as one consumer. On a standalone server the
    reads go through a client of ``redis``'s pool that leaves XREADGROUP replies unparsed
    (redis-py would build a dict per entry, only to have its one field taken out). On a
    cluster each read goes straight to the primary of the streams' slot: redis-py would
    otherwise ask a node ``COMMAND GETKEYS`` before every read, since ``XREADGROUP``'s keys
    move."""

    redis: Redis
    group: str
    consumer: str
    _client: Redis = field(init=False, repr=False)  # what reads (see above)

    def __post_init__(self) -> None:
        self._client = self.redis
        if not isinstance(self.redis, RedisCluster):
            self._client = Redis(connection_pool=self.redis.connection_pool)
            self._client.set_response_callback("XREADGROUP", _unparsed)

    async def read(
        self, streams: dict[str, str], *, count: int, block_ms: int | None
    ) -> list[tuple[str, Entry]]:
        """(stream, entry) pairs from ``streams`` (name → last id, ``>`` for new entries; on a
        cluster all of one hash slot)."""
        pieces: list[str | int] = ["GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms is not None:
            pieces += ["BLOCK", block_ms]
        pieces += ["STREAMS", *streams, *streams.values()]
        if isinstance(self.redis, RedisCluster):
            node = self.redis.get_node_from_key(next(iter(streams)))
            reply = await self.redis.execute_command("XREADGROUP", *pieces, target_nodes=node)
            return group_entries(reply)
        reply = await self._client.execute_command("XREADGROUP", *pieces)  # type: ignore[no-untyped-call]
        return unparsed_group_entries(reply)
