"""Writes confirmed by replicas before they are acknowledged: ``WAIT`` on the writes' own
connection (docs/cluster-failover.md).

A primary answers a write before its replicas have it (replication is asynchronous), so a
primary that dies in between takes the write with it, although the service may have
acknowledged it already: a 202 to a producer, a result acknowledged in its stream. With
``REDIS_WAIT_REPLICAS`` above 0, the steps that acknowledge something confirm their writes first:
``WAIT`` holds the primary's answer until that many replicas have the connection's writes, or
``REDIS_WAIT_TIMEOUT_MS`` has passed. Fewer confirmed: :class:`NotReplicatedError`, and nothing is
acknowledged (a request is answered 503 and sent again, its mention ids deduplicated; results
stay pending and are delivered again, their chunk ids deduplicated).

``WAIT`` counts the writes of the connection it arrives on, so it travels in the writes'
pipeline: on a standalone server as its last command (a pipeline is one connection); on a
cluster, one ``WAIT`` per primary holding a written key, pinned to that node, since a cluster
pipeline sends each node's commands in order on one connection. Two things would make a pinned
``WAIT`` confirm writes it did not follow: a write redirected to another node (``MOVED``, after
a failover), and a pipeline the client retried after a connection error (it re-routes what
failed, and the ``WAIT`` loses its pin). Both change the client's slot map, which is compared
after the pipeline: changed, nothing is confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.exceptions import SlotNotCoveredError
from redis.typing import EncodableT, KeyT

from orchestrator.errors import NotReplicatedError
from orchestrator.store.connection import is_cluster
from orchestrator.store.scripts import Script

if TYPE_CHECKING:  # prometheus_client: a worker process does without it
    from orchestrator.metrics import Metrics


@dataclass(frozen=True)
class _Waits:
    """The WAITs queued on a pipeline: the node each went to, in order, and (on a cluster) the
    slot map they were routed by, with the primary of each written key in it."""

    nodes: list[str]
    layout: object | None = None  # the client's slot map (replaced whenever it is re-learnt)
    owners: dict[KeyT, str] = field(default_factory=dict)


class Durability:
    """Confirms pipelines' writes on ``replicas`` replicas (0: off, the writes go as they are)."""

    def __init__(
        self,
        redis: Redis,
        replicas: int = 0,
        timeout_ms: int = 1000,
        metrics: Metrics | None = None,
    ) -> None:
        self.redis = redis
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.replicas > 0

    async def execute(self, pipe: Pipeline, keys: Iterable[KeyT]) -> list[Any]:
        """``pipe.execute()``, confirmed: the replies to the commands queued on ``pipe`` once the
        primary of each of ``keys`` (a key of each hash slot written is enough) has had them
        confirmed by ``replicas`` replicas; NotReplicatedError if it has not."""
        written = list(keys)
        if not (self.enabled and written):
            return await pipe.execute()
        waits = await self._queue_waits(pipe, written)
        replies = await pipe.execute(raise_on_error=False)
        count = len(waits.nodes)
        for reply in replies[:-count]:
            if isinstance(reply, Exception):
                raise reply
        self._check(waits, replies[-count:])
        return replies[:-count]

    async def run(self, script: Script, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        """``await script(keys=keys, args=args)``, confirmed (its keys share a hash slot)."""
        if not self.enabled:
            return await script(keys=keys, args=args)
        async with self.redis.pipeline(transaction=False) as pipe:
            script.queue(pipe, keys, args)
            (reply,) = await self.execute(pipe, keys[:1])
        return reply

    async def _queue_waits(self, pipe: Pipeline, keys: list[KeyT]) -> _Waits:
        if not is_cluster(self.redis):
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            return _Waits(["the server"])
        cluster = cast(RedisCluster, self.redis)
        await cluster.initialize()  # at once unless the slot map is to be learnt again
        waits = _Waits([], cluster.nodes_manager.slots_cache)
        for key in keys:
            node = cluster.get_node_from_key(cast(str, key))
            assert node is not None  # a primary, or SlotNotCoveredError
            waits.owners[key] = node.name
            if node.name not in waits.nodes:
                waits.nodes.append(node.name)
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms, target_nodes=node)
        return waits

    def _check(self, waits: _Waits, confirmed: list[Any]) -> None:
        problems = [] if self._same_layout(waits) else ["the cluster's slot map changed meanwhile"]
        for node, reply in zip(waits.nodes, confirmed, strict=True):
            if isinstance(reply, Exception):
                problems.append(f"{node}: {reply}")
            elif int(reply) < self.replicas:
                problems.append(f"{node}: {reply} of {self.replicas} in {self.timeout_ms} ms")
        if problems:
            if self.metrics is not None:
                self.metrics.writes_unconfirmed.inc()
            raise NotReplicatedError("writes not confirmed by replicas: " + "; ".join(problems))

    def _same_layout(self, waits: _Waits) -> bool:
        if waits.layout is None:
            return True
        cluster = cast(RedisCluster, self.redis)
        if cluster.nodes_manager.slots_cache is not waits.layout:
            return False
        try:
            owners = {key: cluster.get_node_from_key(cast(str, key)) for key in waits.owners}
        except SlotNotCoveredError:
            return False
        return all(
            node is not None and node.name == waits.owners[key] for key, node in owners.items()
        )
