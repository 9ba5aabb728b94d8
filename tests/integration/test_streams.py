"""Group reads against a real server: the unparsed path reads what redis-py's parsing reads."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.store.embedded import EmbeddedServer
from orchestrator.store.streams import GroupReader, group_entries

pytestmark = pytest.mark.anyio  # at collection time, for the parametrized async test

STREAMS = ("s:a", "s:b")


async def fill(redis: Redis) -> None:
    """Entries of one field, of several (``m`` twice), of none of ours, and one deleted while
    pending, on two streams."""
    for stream in STREAMS:
        await redis.xgroup_create(stream, "g", id="0", mkstream=True)
        await redis.xadd(stream, {"m": f"{stream}-1"})
        await redis.execute_command("XADD", stream, "*", "x", "1", "m", "first", "m", "last")  # type: ignore[no-untyped-call]
        await redis.xadd(stream, {"other": "2"})
        gone = await redis.xadd(stream, {"m": "gone"})
        await redis.xadd(stream, {"m": f"{stream}-5"})
        await redis.xreadgroup("g", "c", {stream: ">"})  # all pending now
        await redis.xdel(stream, gone)


@pytest.mark.parametrize("protocol", [2, 3])
async def test_the_reader_sees_what_the_parsed_reply_holds(
    redis: Redis, valkey: EmbeddedServer, protocol: int
) -> None:
    await fill(redis)
    client = Redis.from_url(valkey.url, protocol=protocol)
    try:
        streams: dict[Any, Any] = dict.fromkeys(STREAMS, "0")  # the pending history, deleted too
        found = await GroupReader(client, "g", "c").read(streams, count=10, block_ms=None)
        parsed = group_entries(await client.xreadgroup("g", "c", streams, count=10))
        assert found == parsed
        assert [raw for stream, (_, raw) in found if stream == "s:a"] == [
            b"s:a-1", b"last", b"", b"", b"s:a-5"
        ]  # fmt: skip
        reader = GroupReader(client, "g", "c")
        assert await reader.read({"s:a": ">"}, count=10, block_ms=None) == []
    finally:
        await client.aclose()
