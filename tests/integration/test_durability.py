"""Writes confirmed by a replica before they are acknowledged (``REDIS_WAIT_REPLICAS``), on a
real primary and its replica: while the replica cannot confirm (stopped), a step fails with
NotReplicatedError after storing its write on the primary, and acknowledges nothing; sent again
once the replica is back, the step is confirmed and its effect counts once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis as sync_redis
from redis.asyncio import Redis
from starlette.testclient import TestClient
from structlog.testing import capture_logs
from structlog.typing import EventDict

from orchestrator.app.factory import create_app
from orchestrator.config import Settings
from orchestrator.dispatch import COLLECTORS_GROUP, WORKERS_GROUP, TaskQueue
from orchestrator.errors import NotReplicatedError
from orchestrator.mentions import MentionStore
from orchestrator.protocol import FIELD, Task, encode, new_task
from orchestrator.store.durability import Durability
from orchestrator.store.embedded import EmbeddedServer, replicated
from orchestrator.worker import Context, Worker, WorkerSettings
from tests.collection import KEYS, build, chunk_result, publish, report
from tests.harness import stopped

Pair = tuple[EmbeddedServer, EmbeddedServer]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A private primary and its replica."""
    with replicated(tmp_path_factory.mktemp("replicated")) as servers:
        yield servers


@pytest.fixture
async def primary(pair: Pair) -> AsyncIterator[Redis]:
    """A client of the primary, over an empty keyspace."""
    client = Redis.from_url(pair[0].url)
    try:
        assert (await client.info("server"))["process_id"] == pair[0].pid
        await client.flushall()
        yield client
    finally:
        await client.aclose()


def on(server: EmbeddedServer) -> sync_redis.Redis:
    return sync_redis.Redis(server.host, server.port)


def mentions(*ids: str) -> list[bytes]:
    return [json.dumps({"id": i, "text": f"nike {i}"}).encode() for i in ids]


async def test_confirmed_mentions_are_on_the_replica_when_ingest_returns(
    primary: Redis, pair: Pair
) -> None:
    store = MentionStore(primary, KEYS, durability=Durability(primary, 1, 1000))
    outcome = await store.ingest("nike", mentions("a", "b"))
    assert outcome.accepted == 2
    with on(pair[1]) as replica:
        assert replica.xlen(KEYS.mentions("nike")) == 2


async def test_mentions_the_replica_cannot_confirm_are_not_acknowledged(
    primary: Redis, pair: Pair
) -> None:
    store = MentionStore(primary, KEYS, durability=Durability(primary, 1, 100))
    with stopped(pair[1]), pytest.raises(NotReplicatedError, match="0 of 1 in 100 ms"):
        await store.ingest("nike", mentions("a", "b"))
    assert await primary.xlen(KEYS.mentions("nike")) == 2  # stored, not acknowledged
    again = await store.ingest("nike", mentions("a", "b"))  # the producer sends them again
    assert (again.accepted, again.duplicates) == (0, 2)
    with on(pair[1]) as replica:
        assert replica.xlen(KEYS.mentions("nike")) == 2


async def test_with_durability_off_nothing_waits_for_the_replica(
    primary: Redis, pair: Pair
) -> None:
    store = MentionStore(primary, KEYS, durability=Durability(primary, 0))
    with stopped(pair[1]):
        assert (await store.ingest("nike", mentions("a"))).accepted == 1


async def test_a_result_stays_pending_until_the_replica_holds_its_effect(
    primary: Redis, pair: Pair
) -> None:
    parts = build(primary, durability=Durability(primary, 1, 100), result_claim_idle_sec=0.001)
    await parts.add_brand("nike")
    await publish(primary, report(chunk_result("nike", "nike-1"), "nike"))
    await parts.collector.queue.ensure_groups()
    batch = await parts.collector._read()
    with stopped(pair[1]), pytest.raises(NotReplicatedError):
        await parts.collector.apply(batch)
    pending = await primary.xpending(KEYS.partition(0).result_stream, COLLECTORS_GROUP)
    assert pending["pending"] == 1  # not acknowledged: it comes back
    await parts.collector.step()  # claims it again, applies it (a duplicate now), acknowledges
    assert (await primary.xpending(KEYS.partition(0).result_stream, COLLECTORS_GROUP))[
        "pending"
    ] == 0
    assert await primary.hget(KEYS.aggregate("nike"), "chunks") == b"1"
    assert parts.metrics.results_duplicate._value.get() == 1


async def test_a_task_is_acknowledged_once_the_replica_holds_its_result(
    primary: Redis, pair: Pair
) -> None:
    await TaskQueue(primary, KEYS).ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    task = new_task("ping", "nike", {}, fence=0, max_attempts=3)
    await primary.xadd(stream, {FIELD: encode(task)})
    refused = anyio.Event()

    def notice(_: object, __: str, entry: EventDict) -> EventDict:
        if entry["event"] == "worker.store_unavailable" and entry.get("step") == "flush":
            refused.set()  # a publish the stopped replica did not confirm
        return entry

    async def ping(task: Task, _: Context) -> str:
        return "pong"

    settings = WorkerSettings(block_ms=50, burst=True, wait_replicas=1, wait_timeout_ms=100)
    with anyio.fail_after(20), capture_logs(processors=[notice]):
        async with anyio.create_task_group() as group:
            with stopped(pair[1]):
                group.start_soon(Worker(primary, {"ping": ping}, settings=settings).run)
                await refused.wait()
                assert await primary.xlen(KEYS.partition(0).result_stream) >= 1  # published...
                pending = await primary.xpending(stream, WORKERS_GROUP)
                assert pending["pending"] == 1  # ...not confirmed: not acknowledged
        # the replica is back: the worker publishes again, acknowledges, and (burst) stops
    assert await primary.xlen(stream) == 0
    assert await primary.xlen(KEYS.partition(0).result_stream) >= 2  # published twice, applied once


def test_the_api_answers_503_while_the_replica_cannot_confirm(pair: Pair) -> None:
    with on(pair[0]) as client:
        client.flushall()
    settings = Settings(
        redis_url=pair[0].url,
        redis_wait_replicas=1,
        redis_wait_timeout_ms=100,
        shutdown_grace_sec=1,
    )
    brand = {"slug": "nike", "name": "Nike", "keywords": ["nike"]}
    mention = [{"id": "a", "text": "nike a"}]
    with TestClient(create_app(settings)) as api:
        with stopped(pair[1]):
            refused = api.post("/v1/brands", json=brand)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert "replicas" in refused.json()["detail"]
        assert api.post("/v1/brands", json=brand).status_code == 409  # stored all the same
        with stopped(pair[1]):
            assert api.post("/v1/brands/nike/mentions", json=mention).status_code == 503
        accepted = api.post("/v1/brands/nike/mentions", json=mention)
        assert accepted.status_code == 202
        assert accepted.json()["duplicates"] == 1
