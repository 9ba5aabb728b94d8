"""The dashboard's server side against a real server: replica heartbeats, the summary feed,
the event streams, and the pages behind READ_API_KEY."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.testclient import TestClient

from orchestrator.app.factory import create_app
from orchestrator.config import Settings
from orchestrator.dashboard.live import Regions, SummaryFeed, events
from orchestrator.keys import Keys
from orchestrator.replicas import Replicas
from orchestrator.store.embedded import EmbeddedServer
from tests.harness import wait_until

KEYS = Keys()


async def test_replicas_announce_themselves_and_leave(redis: Redis) -> None:
    a = Replicas(redis, KEYS, "replica-a")
    b = Replicas(redis, KEYS, "replica-b")
    assert await a.step() == a.every_s
    await b.step()
    views = {view.id: view for view in await a.views(leader="replica-b")}
    assert set(views) == {"replica-a", "replica-b"}
    assert [views["replica-a"].state, views["replica-b"].state] == ["alive", "alive"]
    assert (views["replica-a"].leader, views["replica-b"].leader) == (False, True)
    assert views["replica-a"].pid is not None
    await redis.delete(KEYS.replica("replica-b"))  # its heartbeat expired: gone
    assert {v.id: v.state for v in await a.views(None)}["replica-b"] == "gone"
    await a.forget()
    assert [v.id for v in await a.views(None)] == ["replica-b"]


async def test_the_feed_wakes_waiters_when_a_summary_is_published(redis: Redis) -> None:
    await redis.xadd(KEYS.summary_stream, {"brand": "old", "m": b"{}"})
    feed = SummaryFeed(redis, KEYS, every_s=0.01)
    await feed.step()  # starts after what is already there
    woke = anyio.Event()

    async def waiter() -> None:
        await feed.wait(30)
        woke.set()

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await redis.xadd(KEYS.summary_stream, {"brand": "nike", "m": b"{}"})
        await feed.step()
        with anyio.fail_after(5):
            await woke.wait()


async def test_a_stream_sends_changed_regions_then_alive_then_stale(redis: Redis) -> None:
    renders = iter([{"a": "1", "b": "2"}, {"a": "1", "b": "3"}, {"a": "1", "b": "3"}])

    async def render() -> Regions:
        found = next(renders, None)
        if found is None:
            raise RedisConnectionError("gone")
        return found

    feed = SummaryFeed(redis, KEYS)
    sent = [chunk.decode() async for chunk in events(render, feed, every_s=0.01, max_age_s=0.5)]
    assert sent[0] == "retry: 1000\n\n"
    assert sent[1].startswith("event: update\n")
    assert '"regions":{"a":"1","b":"2"}' in sent[1]
    assert '"regions":{"b":"3"}' in sent[2]  # only what changed
    assert sent[3].startswith("event: alive\n")
    assert sent[4].startswith("event: stale\n")
    assert "the store does not answer" in sent[4]


def guarded_app(redis_url: str) -> TestClient:
    """The app in process, with both keys, as replica ``replica-a``."""
    settings = Settings(
        redis_url=redis_url,
        orchestrator_id="replica-a",
        api_key="writer",
        read_api_key="reader",
        shutdown_grace_sec=1,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def guarded(valkey: EmbeddedServer, store: SyncRedis) -> Iterator[TestClient]:
    with guarded_app(valkey.url) as client:
        yield client


def test_with_a_read_key_the_pages_ask_for_it(guarded: TestClient) -> None:
    for path in ("/", "/brands/nike", "/system", "/dashboard/live/system"):
        refused = guarded.get(path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
    assert guarded.get("/", auth=("anyone", "wrong")).status_code == 401
    page = guarded.get("/system", auth=("anyone", "reader"))
    assert page.status_code == 200
    assert "Orchestrator replicas" in page.text
    assert guarded.get("/", headers={"Authorization": "Bearer writer"}).status_code == 200
    missing = guarded.get("/brands/nike", auth=("", "reader"))
    assert missing.status_code == 404
    assert "No brand" in missing.text
    script = guarded.get("/dashboard/static/js/dashboard.js")  # code, not data: no key needed
    assert script.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "script-src-attr 'none'" in csp
    assert "<script>" not in page.text  # every script is a file the policy allows


def test_the_replicas_api_shows_the_leader(guarded: TestClient) -> None:
    bearer = {"Authorization": "Bearer reader"}
    assert guarded.get("/v1/replicas").status_code == 401

    def leading() -> bool:
        items = guarded.get("/v1/replicas", headers=bearer).json()["items"]
        return [(i["id"], i["state"], i["leader"]) for i in items] == [("replica-a", "alive", True)]

    wait_until(leading, timeout_s=10, what="replica-a alive and leading")


def test_the_event_stream_of_the_system_page(guarded: TestClient) -> None:
    with guarded.stream("GET", "/dashboard/live/system", auth=("", "reader")) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())  # ends by itself: half the shutdown grace
    assert text.startswith("retry: 1000\n\nevent: update\n")
    assert '"_dead.html":' in text
    assert "No dead letters." in text


def test_a_brand_without_data_yet(guarded: TestClient) -> None:
    created = guarded.post(
        "/v1/brands",
        json={"name": "Nike Running", "slug": "nike", "keywords": ["nike"]},
        headers={"Authorization": "Bearer writer"},
    )
    assert created.status_code == 201
    listed = guarded.get("/?q=running", auth=("", "reader"))
    assert 'data-brand="nike"' in listed.text
    for range_ in ("24h", "7d", "30d", "all", "bogus"):
        page = guarded.get(f"/brands/nike?range={range_}", auth=("", "reader"))
        assert page.status_code == 200
        assert "No summary yet" in page.text
        assert "No mentions in this range." in page.text
