"""When summaries are made (debounced after results, at once after a spike) and where they are
published (the original's key with its TTL, the history)."""

from __future__ import annotations

import json
import time
from typing import cast

from redis.asyncio import Redis

from orchestrator.summaries import SummaryWatch
from tests.collection import KEYS, Parts, build, chunk_result, inject_spike, publish, report


async def made(redis: Redis) -> int:
    return await redis.llen(KEYS.summary_history("nike"))


async def apply(parts: Parts, chunk: str) -> None:
    await publish(parts.redis, report(chunk_result("nike", chunk), "nike", task_id=chunk))
    await parts.drain_results()


def watch(parts: Parts) -> SummaryWatch:
    return parts.collection.summaries


async def test_summaries_are_debounced_per_brand(redis: Redis) -> None:
    parts = build(redis, summary_min_interval_sec=1.0)
    await parts.add_brand("nike")
    await parts.add_brand("puma")
    await apply(parts, "n1")  # the collector tells the watch which brands changed
    first = time.monotonic()
    await watch(parts).step()
    assert await made(redis) == 1
    for _ in range(3):  # more results at once (as the collector reports them)
        watch(parts).touched({"nike"})
        await watch(parts).step()
    assert await made(redis) == 1  # within the interval: no new summary yet
    assert await redis.llen(KEYS.summary_history("puma")) == 0  # no results, no summary
    while await made(redis) == 1:
        await watch(parts).step()
        assert time.monotonic() - first < 10
    assert time.monotonic() - first >= 1.0  # it waited for the interval, then made one
    await watch(parts).step()
    assert await made(redis) == 2


async def test_a_spike_brings_the_summary_forward(redis: Redis) -> None:
    parts = build(redis, summary_min_interval_sec=3600)
    await parts.add_brand("nike")
    await apply(parts, "n1")
    await watch(parts).step()
    assert await made(redis) == 1
    assert len(await inject_spike(parts)) == 1  # also applies 36 results: debounced, but...
    await watch(parts).step()
    assert await made(redis) == 2  # ...the spike makes one at once
    latest = json.loads(cast(bytes, await redis.get("summary:brand:nike")))
    assert latest["spikeDetected"] is True
    assert [s["volume"] for s in latest["spikes"]] == [250]


async def test_the_originals_key_holds_the_summary_with_its_ttl(redis: Redis) -> None:
    parts = build(redis, summary_ttl_sec=120)
    await parts.add_brand("nike")
    await apply(parts, "n1")
    summary = await watch(parts).summaries.refresh("nike")
    stored = json.loads(cast(bytes, await redis.get("summary:brand:nike")))
    assert 110 <= await redis.ttl("summary:brand:nike") <= 120
    assert stored["brand"] == "nike"
    assert stored["totalMentions"] == summary.total_mentions == 8
    assert stored["sentiment"] == {
        "positive": 5, "neutral": 2, "negative": 1, "score": 4.0, "netSentiment": 0.5,
        "trend": None,
    }  # fmt: skip
    assert stored["dominantTopics"] == ["launch"]
    assert {"generatedAt", "window", "headline", "summary", "spikeDetected", "topClusters"} <= set(
        stored
    )
    assert stored["provider"] == "grounded"
    assert stored["fallbackReason"] is None
