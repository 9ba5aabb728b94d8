"""Workers' heartbeats as ``GET /v1/workers`` reads them, against a real server."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from redis.asyncio import Redis

from orchestrator.fleet import Fleet
from orchestrator.keys import Keys
from orchestrator.protocol import Heartbeat
from orchestrator.worker.heartbeat import HeartbeatPublisher

KEYS = Keys()


def beat(worker_id: str, processed: int) -> Heartbeat:
    at = datetime.now(UTC)
    return Heartbeat(
        worker_id=worker_id, host="h", pid=1, kinds=["analyze"], concurrency=4, in_flight=0,
        processed=processed, failed=0, started_at=at, sent_at=at, version="t",
    )  # fmt: skip


async def test_every_worker_is_listed_with_its_heartbeat_and_a_stopped_one_is_gone(
    redis: Redis,
) -> None:
    ids = [f"worker-{n}" for n in range(8)]  # their heartbeat keys spread over hash slots
    for n, worker_id in enumerate(ids):
        await HeartbeatPublisher(redis, KEYS, partial(beat, worker_id, n), 5.0).publish()
    await HeartbeatPublisher(redis, KEYS, partial(beat, ids[0], 0), 5.0).remove(ids[0])

    views = {view.id: view for view in await Fleet(redis, KEYS).workers()}
    assert sorted(views) == ids
    assert views[ids[0]].state == "gone"
    assert [views[w].state for w in ids[1:]] == ["alive"] * 7
    assert [views[w].processed for w in ids[1:]] == list(range(1, 8))


async def test_no_worker_no_view(redis: Redis) -> None:
    assert await Fleet(redis, KEYS).workers() == []
