"""The collection side built as the app factory builds it, for tests and benchmarks that drive
its loops step by step."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from orchestrator.aggregator import Aggregator
from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collect import Collector
from orchestrator.collection import Collection, build_collection
from orchestrator.config import load_settings
from orchestrator.keys import Keys
from orchestrator.legacy_results import LegacyResults
from orchestrator.metrics import Metrics
from orchestrator.parking import ParkingLot
from orchestrator.protocol import FIELD, ResultReport, encode, utcnow
from orchestrator.registry import Registry
from orchestrator.results import ResultIntake
from orchestrator.spike_watch import SpikeWatch
from orchestrator.spikes import SpikeEvent
from orchestrator.store.durability import Durability

KEYS = Keys()


@dataclass
class Parts:
    """One replica's collection side and its registry, driven step by step."""

    redis: Redis
    metrics: Metrics
    registry: Registry
    collection: Collection

    @property
    def aggregator(self) -> Aggregator:
        return self.collection.aggregator

    @property
    def parking(self) -> ParkingLot:
        return self.collection.parking

    @property
    def spikes(self) -> SpikeWatch:
        return self.collection.spikes

    @property
    def intake(self) -> ResultIntake:
        return self.collection.intake

    @property
    def collector(self) -> Collector:
        return self.collection.collectors[0]

    @property
    def legacy(self) -> LegacyResults:
        return self.collection.legacy

    async def add_brand(self, slug: str, **fields: Any) -> None:
        spec = BrandCreate.model_validate({"name": slug, "keywords": [slug], **fields})
        await self.registry.create(new_brand(spec, now()))

    async def drain_results(self) -> int:
        """Read and apply every partition's results stream until empty; the entries read."""
        await self.collector.queue.ensure_groups()
        total = 0
        for collector in self.collection.collectors:
            while batch := await collector._read():
                await collector.apply(batch)
                total += len(batch)
        return total


def build(
    redis: Redis,
    consumer: str = "collector-a",
    durability: Durability | None = None,
    keys: Keys = KEYS,
    **settings: Any,
) -> Parts:
    """A replica's collection side as the app builds it; ``settings`` override the defaults
    (spike buckets are evaluated as soon as they close)."""
    metrics = Metrics()
    registry = Registry(redis, keys, metrics, durability)
    options = {"orchestrator_id": consumer, "spike_grace_sec": 0, **settings}
    return Parts(redis, metrics, registry, build_collection(registry, load_settings(**options)))


def chunk_result(brand: str, chunk_id: str, **fields: Any) -> dict[str, Any]:
    """A chunk result in the original format (DESIGN §4), with ``fields`` replaced."""
    return {
        "chunkId": chunk_id,
        "brand": brand,
        "processedAt": "2026-01-01T00:00:00Z",
        "sentiment": {"positive": 5, "neutral": 2, "negative": 1, "score": 4},
        "topics": ["launch"],
        "clusters": [],
        "spikeDetected": False,
        "meta": {"mentionCount": 8},
        **fields,
    }


def hourly(chunk_id: str, hour: datetime, count: int, brand: str = "nike") -> dict[str, Any]:
    """A result of ``count`` neutral mentions created in ``hour``."""
    mentions = [
        {"id": f"{chunk_id}-{i}", "createdAt": (hour + timedelta(seconds=i)).isoformat(),
         "sentiment": "neutral"}
        for i in range(count)
    ]  # fmt: skip
    return chunk_result(
        brand, chunk_id, mentions=mentions, meta={"mentionCount": count},
        sentiment={"positive": 0, "neutral": count, "negative": 0, "score": 0},
    )  # fmt: skip


async def inject_spike(parts: Parts, brand: str = "nike") -> list[SpikeEvent]:
    """36 ordinary hours and a spike of 250 mentions 10 hours ago, applied and evaluated."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=40)
    volumes = [30 + (i * 7) % 11 for i in range(36)]
    volumes[30] = 250
    results = [hourly(f"h{i}", start + timedelta(hours=i), v, brand) for i, v in enumerate(volumes)]
    await publish(parts.redis, *(report(r, brand, task_id=r["chunkId"]) for r in results))
    await parts.drain_results()
    return await parts.spikes.evaluate(brand, int(datetime.now(UTC).timestamp() * 1000))


def report(result: Any, brand: str, *, task_id: str = "t", kind: str = "analyze") -> bytes:
    """A worker's result report carrying ``result``."""
    return encode(
        ResultReport(
            task_id=task_id, kind=kind, brand=brand, worker_id="w1", attempt=1, fence=1,
            chunk_id=result.get("chunkId") if isinstance(result, dict) else None,
            duration_ms=1.0, finished_at=utcnow(), result=result,
        )
    )  # fmt: skip


async def publish(redis: Redis, *entries: bytes) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for entry in entries:
            pipe.xadd(KEYS.partition(0).result_stream, {FIELD: entry})
        await pipe.execute()


def legacy_item(result: dict[str, Any]) -> bytes:
    return json.dumps(result).encode()
