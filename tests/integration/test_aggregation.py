"""Collection and aggregation against a real server: exactly once, parked when invalid,
serialized cluster merges across collectors, legacy lists, windows and spikes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import anyio
import pytest
from redis.asyncio import Redis

from orchestrator.aggregate import HOUR_MS
from orchestrator.brand_view import BrandView
from orchestrator.chunk_result import convert_result
from orchestrator.dispatch import COLLECTORS_GROUP
from orchestrator.legacy_results import digest
from orchestrator.results import Incoming
from orchestrator.types import text
from tests.collection import (
    KEYS,
    Parts,
    build,
    chunk_result,
    hourly,
    legacy_item,
    publish,
    report,
)


@pytest.fixture
async def collection(redis: Redis) -> Parts:
    parts = build(redis)
    await parts.add_brand("nike")
    return parts


async def totals(redis: Redis, brand: str = "nike") -> dict[str, str]:
    found = await redis.hgetall(KEYS.aggregate(brand))
    return {text(k): text(v) for k, v in found.items()}


async def test_the_same_result_delivered_three_times_counts_once(
    redis: Redis, collection: Parts
) -> None:
    result = chunk_result("nike", "nike-1")
    await publish(redis, *(report(result, "nike", task_id=f"t{i}") for i in range(3)))
    assert await collection.drain_results() == 3
    agg = await totals(redis)
    assert (agg["chunks"], agg["mentions"], agg["positive"], agg["score"]) == ("1", "8", "5", "4")
    assert collection.metrics.results_applied._value.get() == 1
    assert collection.metrics.results_duplicate._value.get() == 2
    await publish(redis, report(result, "nike", task_id="late"))  # a redelivery, much later
    await collection.drain_results()
    assert (await totals(redis))["chunks"] == "1"
    pending = await redis.xpending(KEYS.partition(0).result_stream, COLLECTORS_GROUP)
    assert pending["pending"] == 0  # every entry acknowledged


async def test_the_originals_semantics_add_up_across_chunks(
    redis: Redis, collection: Parts
) -> None:
    await publish(
        redis,
        report(chunk_result("nike", "c1", topics=["launch", "price"]), "nike", task_id="1"),
        report(chunk_result("nike", "c2", topics=["launch", "recall"], spikeDetected=True,
                            meta={}, clusters=[{"id": "x", "mentions": ["m1", "m2", "m3"]}]),
               "nike", task_id="2"),
    )  # fmt: skip
    await collection.drain_results()
    view = await BrandView(redis, KEYS).aggregate("nike", "all")
    assert view.total_chunks == 2
    assert view.total_mentions == 8 + 3  # meta.mentionCount, then the cluster's size
    assert (view.sentiment.positive, view.sentiment.negative, view.sentiment.score) == (10, 2, 8.0)
    assert [(t.topic, t.count) for t in view.topics] == [("launch", 2), ("price", 1), ("recall", 1)]
    assert view.spike_detected


INVALID: list[tuple[str, Any, str]] = [
    (
        "invalid",
        chunk_result("nike", "bad-1", sentiment={"positive": -1, "neutral": 0, "negative": 0}),
        "$.sentiment.positive",
    ),
    (
        "invalid",
        chunk_result("nike", "bad-2", sentiment={"positive": "many", "neutral": 0, "negative": 0}),
        "$.sentiment.positive",
    ),
    ("invalid", chunk_result("nike", "bad-3", topics=["t"] * 5000), "$.topics"),
    ("invalid", {"chunkId": "bad-4"}, "missing required field"),
    (  # refused as its centroid is read, on the collector's one-pass decoding
        "invalid",
        chunk_result("nike", "bad-7", clusters=[{"id": "c", "centroid": [1.0, [2.0]]}]),
        "$.clusters[0].centroid",
    ),
    ("brand_mismatch", chunk_result("adidas", "bad-5"), "names brand 'adidas'"),
    (
        "dimension",
        chunk_result("nike", "bad-6", clusters=[{"id": "c", "centroid": [1.0, 0.0, 0.0]}]),
        "dimension 3",
    ),
]


async def test_every_kind_of_invalid_payload_is_parked_while_the_loop_keeps_going(
    redis: Redis, collection: Parts
) -> None:
    good = chunk_result("nike", "good-1", clusters=[{"id": "c", "centroid": [1.0, 0.0]}])
    entries = [report(good, "nike", task_id="good-1"), b"{not json at all"]
    entries += [
        report(payload, "nike", task_id=f"bad-{i}") for i, (_, payload, _) in enumerate(INVALID)
    ]
    entries += [report(chunk_result("ghost", "g-1"), "ghost", task_id="ghost")]
    entries += [report(chunk_result("nike", "good-2"), "nike", task_id="good-2")]
    await publish(redis, *entries)
    await collection.drain_results()

    assert (await totals(redis))["chunks"] == "2"  # both good results, around the bad ones
    page = await collection.parking.page(limit=50)
    by_reason = sorted((p.reason.value, p.brand) for p in page.items)
    assert by_reason == sorted(
        [("not_json", None), ("unknown_brand", "ghost")]
        + [(reason, "nike") for reason, _, _ in INVALID]
    )
    for (_, _, message), item in zip(
        INVALID[::-1], [p for p in page.items if p.brand == "nike"], strict=True
    ):
        assert message in item.message
        assert item.raw  # the payload as received
    brand_list = await collection.parking.page_of("nike", limit=50)
    assert len(brand_list.items) == len(INVALID)  # named brands: failed:brand:{slug} too
    assert await redis.llen(KEYS.legacy_failed("ghost")) == 0
    parked = collection.metrics.payloads_parked
    assert parked.labels("invalid")._value.get() == 5
    pending = await redis.xpending(KEYS.partition(0).result_stream, COLLECTORS_GROUP)
    assert pending["pending"] == 0


async def test_failed_pages_are_newest_first_with_a_cursor(redis: Redis, collection: Parts) -> None:
    await publish(redis, *(b"junk %d" % i for i in range(5)))
    await collection.drain_results()
    first = await collection.parking.page(limit=3)
    second = await collection.parking.page(limit=3, cursor=first.next_cursor)
    raws = [p.raw for p in first.items + second.items]
    assert raws == [f"junk {i}" for i in range(4, -1, -1)]
    assert second.next_cursor is None


def clustered(chunk_id: str, theme: int, size: int = 3) -> dict[str, Any]:
    centroid = [0.0] * 4
    centroid[theme] = 1.0
    mentions = [f"{chunk_id}-m{i}" for i in range(size)]
    cluster = {"id": f"theme-{theme}", "mentions": mentions, "centroid": centroid}
    return chunk_result("nike", chunk_id, clusters=[cluster], meta={"mentionCount": size})


async def test_two_collectors_merging_one_brand_at_once_lose_nothing(
    redis: Redis, collection: Parts
) -> None:
    other = build(redis, consumer="collector-b")
    results = [clustered(f"c{i}", i % 4) for i in range(400)]
    half = len(results) // 2
    async with anyio.create_task_group() as group:
        for parts, share in ((collection, results[:half]), (other, results[half:])):
            for start in range(0, len(share), 20):
                batch = share[start : start + 20]
                group.start_soon(apply_batch, parts, batch)
    agg = await totals(redis)
    assert (agg["chunks"], agg["mentions"]) == ("400", "1200")
    clusters = await BrandView(redis, KEYS, top_clusters=10).aggregate("nike", "all")
    assert sorted(c.size for c in clusters.clusters) == [300, 300, 300, 300]
    replans = [
        parts.metrics.aggregate_replans.labels("conflict")._value.get()
        for parts in (collection, other)
    ]
    assert sum(replans) > 0  # the two did collide, and re-planned


async def apply_batch(parts: Parts, batch: list[dict[str, Any]]) -> None:
    outcome = await parts.aggregator.apply([convert_result(r) for r in batch])
    assert not outcome.invalid


async def test_a_legacy_list_is_consumed_and_a_crash_before_the_trim_applies_nothing_twice(
    redis: Redis, collection: Parts
) -> None:
    items = [legacy_item(chunk_result("nike", f"legacy-{i}")) for i in range(120)]
    items.insert(7, b"not json")
    await redis.rpush(KEYS.legacy_chunks("nike"), *items)
    collection.legacy.batch = 50
    # A replica that applied its batch and died before removing it from the list:
    first = cast(list[bytes], await redis.lrange(KEYS.legacy_chunks("nike"), 0, 49))
    await collection.intake.apply([Incoming.decode(raw, raw, "nike") for raw in first], "legacy")
    assert (await totals(redis))["chunks"] == "49"
    while await collection.legacy.step() == 0.0:
        pass
    assert await redis.llen(KEYS.legacy_chunks("nike")) == 0
    assert (await totals(redis))["chunks"] == "120"
    parked = await collection.parking.page_of("nike", limit=10)
    assert [p.reason.value for p in parked.items] == ["not_json", "not_json"]  # parked twice


async def test_a_list_consumed_by_another_replica_meanwhile_is_not_trimmed_twice(
    redis: Redis, collection: Parts
) -> None:
    key = KEYS.legacy_chunks("nike")
    await redis.rpush(key, *(legacy_item(chunk_result("nike", f"l{i}")) for i in range(10)))
    snapshot = cast(list[bytes], await redis.lrange(key, 0, 4))
    await redis.lpop(key, 5)  # someone else consumed the same five
    removed = await collection.legacy._trim(keys=[key], args=[5, digest(snapshot)])
    assert removed == 0
    assert await redis.llen(key) == 5


def spiking_hours() -> tuple[datetime, list[int]]:
    """36 hours of steady noise from 40 hours ago, hour 30 a spike of 250 mentions."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=40)
    volumes = [30 + (i * 7) % 11 for i in range(36)]
    volumes[30] = 250
    return start, volumes


async def test_spike_watch_finds_an_injected_spike_once_its_hour_is_complete(
    redis: Redis, collection: Parts
) -> None:
    start, volumes = spiking_hours()
    for i, volume in enumerate(volumes):
        hour = start + timedelta(hours=i)
        await redis.hset(KEYS.expected("nike"), f"hour:{int(hour.timestamp() * 1000)}", volume)
    spike_hour = int((start + timedelta(hours=30)).timestamp() * 1000)
    results = [
        hourly(f"h{i}", start + timedelta(hours=i), v) for i, v in enumerate(volumes) if i != 30
    ]
    await publish(redis, *(report(r, "nike", task_id=r["chunkId"]) for r in results))
    await collection.drain_results()
    watch = collection.spikes
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert await watch.evaluate("nike", now_ms) == []  # hour 30 is still being filled
    assert watch._watching["nike"] <= now_ms + watch.every_s * 1000  # and is looked at again
    state = json.loads(cast(bytes, await redis.get(KEYS.spike_state("nike"))))
    assert state["last"] == spike_hour - HOUR_MS  # evaluation stopped before it

    await publish(
        redis, report(hourly("h30", start + timedelta(hours=30), 250), "nike", task_id="h30")
    )
    await collection.drain_results()
    events = await watch.evaluate("nike", now_ms)
    assert [(e.at, e.volume) for e in events] == [(spike_hour, 250)]
    again = await watch.evaluate("nike", now_ms)
    assert again == []  # recorded once
    view = await BrandView(redis, KEYS).aggregate("nike", "7d")
    assert [s.volume for s in view.spikes] == [250]
    assert view.spike_detected


async def test_two_replicas_evaluating_one_spike_at_once_record_it_once(
    redis: Redis, collection: Parts
) -> None:
    start, volumes = spiking_hours()
    results = [hourly(f"h{i}", start + timedelta(hours=i), v) for i, v in enumerate(volumes)]
    await publish(redis, *(report(r, "nike", task_id=r["chunkId"]) for r in results))
    await collection.drain_results()
    other = build(redis, consumer="collector-b").spikes
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    found = await asyncio.gather(
        collection.spikes.evaluate("nike", now_ms), other.evaluate("nike", now_ms)
    )
    assert sorted(len(events) for events in found) == [0, 1]  # one wins, the other steps back
    assert await redis.zcard(KEYS.spikes("nike")) == 1
    assert await redis.llen(KEYS.alert_outbox("nike")) == 1  # one alert to deliver


async def test_windows_and_the_timeline_agree_with_the_totals(
    redis: Redis, collection: Parts
) -> None:
    now = datetime.now(UTC)
    recent = hourly("recent", now - timedelta(minutes=30), 5)
    older = hourly("older", now - timedelta(hours=5), 7)
    oldest = hourly("oldest", now - timedelta(days=3), 11)
    await publish(
        redis, *(report(r, "nike", task_id=r["chunkId"]) for r in (recent, older, oldest))
    )
    await collection.drain_results()
    view = BrandView(redis, KEYS)
    windows = {
        w: (await view.aggregate("nike", w)).total_mentions for w in ("1h", "24h", "7d", "all")
    }
    assert windows == {"1h": 5, "24h": 12, "7d": 23, "all": 23}
    now_ms = int(now.timestamp() * 1000)
    line = await view.timeline("nike", "1h", now_ms - 4 * 86_400_000, now_ms + 1)
    assert sum(p.volume for p in line.points) == 23
    assert len(line.points) == 4 * 24 + 1
