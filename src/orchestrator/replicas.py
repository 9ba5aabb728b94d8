"""The orchestrator replicas, as they announce themselves: each one publishes a heartbeat (its
id, host, pid, version and start time) every few seconds, as a key with a TTL beside a sorted
set of last-seen times; readers see ``alive``, ``stale`` or ``gone`` like the workers'.

Every key lives under the ``{replicas}`` hash tag, so a beat is one MULTI/EXEC and a read one
ZRANGE and one MGET on a single slot of a cluster (DESIGN §7).
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from typing import cast

import msgspec
from redis.asyncio import Redis

from orchestrator import __version__
from orchestrator.fleet import State, state_of
from orchestrator.keys import Keys
from orchestrator.types import text

_Scored = list[tuple[bytes, float]]


class ReplicaBeat(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """What a replica publishes about itself."""

    v: int = 1
    replica_id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    sent_at: datetime


decode_beat = msgspec.json.Decoder(ReplicaBeat).decode
_encode = msgspec.json.Encoder().encode


class ReplicaView(msgspec.Struct, rename="camel", kw_only=True):
    """One replica in ``GET /v1/replicas`` and on the dashboard's system page."""

    id: str
    state: State
    leader: bool
    last_seen_at: datetime | None
    host: str | None = None
    pid: int | None = None
    version: str | None = None
    started_at: datetime | None = None


class Replicas:
    """This replica's heartbeat (a loop step) and the list of every replica."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        replica_id: str,
        *,
        every_s: float = 5.0,
        forget_after_s: float = 3600.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.replica_id = replica_id
        self.every_s = every_s
        self.ttl_s = 3 * every_s  # the document outlives two missed beats
        self.forget_after_s = forget_after_s
        self._started_at = datetime.now(UTC)

    async def step(self) -> float:
        """Publish this replica's heartbeat; the supervisor calls it every ``every_s``."""
        now = datetime.now(UTC)
        beat = ReplicaBeat(
            replica_id=self.replica_id, host=socket.gethostname(), pid=os.getpid(),
            version=__version__, started_at=self._started_at, sent_at=now,
        )  # fmt: skip
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.replica(self.replica_id), _encode(beat), px=int(self.ttl_s * 1000))
            pipe.zadd(self.keys.replicas, {self.replica_id: int(now.timestamp() * 1000)})
            await pipe.execute()
        return self.every_s

    async def forget(self) -> None:
        """Leave the list at once (a clean stop)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            # not pipe.delete(): on a cluster pipeline it is a coroutine, and never queued
            pipe.execute_command("DEL", self.keys.replica(self.replica_id))
            pipe.zrem(self.keys.replicas, self.replica_id)
            await pipe.execute()

    async def views(self, leader: str | None) -> list[ReplicaView]:
        """Every replica seen within ``forget_after_s``; ``leader`` holds the scheduler lease."""
        now_ms = int(time.time() * 1000)
        index = self.keys.replicas
        await self.redis.zremrangebyscore(index, "-inf", now_ms - int(self.forget_after_s * 1000))
        reply = await self.redis.zrange(index, 0, -1, withscores=True)
        known = [(text(replica_id), int(score)) for replica_id, score in cast(_Scored, reply)]
        found = await self.redis.mget([self.keys.replica(i) for i, _ in known]) if known else []
        documents = cast(list[bytes | None], found)
        stale_after_s = 2 * self.every_s
        return [
            _view(replica_id, last_ms, document, leader, state_of(
                (now_ms - last_ms) / 1000, document is not None, stale_after_s
            ))
            for (replica_id, last_ms), document in zip(known, documents, strict=True)
        ]  # fmt: skip


def _view(
    replica_id: str, last_ms: int, document: bytes | None, leader: str | None, state: State
) -> ReplicaView:
    seen = datetime.fromtimestamp(last_ms / 1000, UTC) if last_ms else None
    is_leader = replica_id == leader
    if document is None:
        return ReplicaView(id=replica_id, state=state, leader=is_leader, last_seen_at=seen)
    beat = decode_beat(document)
    return ReplicaView(
        id=replica_id, state=state, leader=is_leader, last_seen_at=seen, host=beat.host,
        pid=beat.pid, version=beat.version, started_at=beat.started_at,
    )  # fmt: skip
