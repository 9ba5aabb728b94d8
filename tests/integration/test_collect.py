"""The reference collect handler over real HTTP: a brand's RSS feed fetched, filtered by its
keywords, sent through ingestion; a second run asks with the ETag and adds nothing."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import new_task
from orchestrator.registry import Registry
from orchestrator.sources import SourceError
from orchestrator.worker.collect import CollectHandler, CollectOptions
from orchestrator.worker.runner import Context
from tests.integration.test_sources import RSS_ETAG, FeedServer, server

__all__ = ["server"]  # the feed server fixture
KEYS = Keys()


async def add_brand(redis: Redis, **spec: Any) -> None:
    create = BrandCreate.model_validate({"name": "Acme", "keywords": ["acme"], **spec})
    await Registry(redis, KEYS, Metrics()).create(new_brand(create, now()))


async def collect(redis: Redis, options: CollectOptions) -> dict[str, Any]:
    task = new_task("collect", "acme", {}, fence=1, max_attempts=3)
    return await CollectHandler(options)(task, Context(redis, KEYS, "w1"))


async def stored(redis: Redis) -> list[dict[str, Any]]:
    entries = cast(
        list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(KEYS.mentions("acme"))
    )
    return [json.loads(fields[b"m"]) for _, fields in entries]


async def test_a_feed_is_fetched_filtered_and_ingested_once(
    redis: Redis, server: FeedServer
) -> None:
    await add_brand(redis, sources=[{"type": "rss", "url": server.url("/rss.xml")}],
                    excludeKeywords=["paris"])  # fmt: skip
    first = await collect(redis, CollectOptions(allow_private=True))
    mentions = await stored(redis)
    assert [m["id"] for m in mentions] == ["news-1"]  # Acmeville and Café Acme (Paris) left out
    assert mentions[0]["text"].startswith("Acme launches the Rocket 2")
    assert (first["accepted"], first["errors"]) == (1, [])
    second = await collect(redis, CollectOptions(allow_private=True))
    assert (second["notModified"], second["accepted"]) == (1, 0)
    assert server.seen[-1].headers.get("if-none-match") == RSS_ETAG
    assert len(await stored(redis)) == 1


async def test_loopback_is_refused_unless_allowed(redis: Redis, server: FeedServer) -> None:
    await add_brand(redis, sources=[{"type": "rss", "url": server.url("/rss.xml")}])
    with pytest.raises(SourceError, match="a loopback address"):
        await collect(redis, CollectOptions())
    assert server.seen == []
    assert await stored(redis) == []
