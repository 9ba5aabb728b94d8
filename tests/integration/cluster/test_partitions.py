"""tests/integration/test_partitions.py on a Valkey Cluster: the partitions on slots of their
own, spread over the primaries."""

from redis.asyncio import Redis

from orchestrator.dispatch import COLLECTORS_GROUP, ensure_group
from orchestrator.keys import Keys
from orchestrator.protocol import FIELD
from orchestrator.store.streams import GroupReader
from tests.cluster import ValkeyCluster
from tests.integration.test_partitions import *  # noqa: F403


def _getkeys_calls(cluster: ValkeyCluster) -> int:
    """``COMMAND GETKEYS`` calls the nodes have answered (redis-py asks one before routing a
    command whose keys move, such as XREADGROUP, unless told the node)."""
    return sum(
        int(client.info("commandstats").get("cmdstat_command|getkeys", {}).get("calls", 0))
        for _, client in cluster.clients()
    )


async def test_stream_reads_go_straight_to_their_primary(
    redis: Redis, no_crossslot: ValkeyCluster
) -> None:
    stream = Keys(partitions=3).partition(2).result_stream
    await ensure_group(redis, stream, COLLECTORS_GROUP)
    await redis.xadd(stream, {FIELD: b"{}"})
    before = _getkeys_calls(no_crossslot)
    reader = GroupReader(redis, COLLECTORS_GROUP, "c1")
    found = await reader.read({stream: ">"}, count=10, block_ms=None)
    assert [(name, raw) for name, (_, raw) in found] == [(stream, b"{}")]
    assert await reader.read({stream: ">"}, count=10, block_ms=10) == []
    assert _getkeys_calls(no_crossslot) == before
