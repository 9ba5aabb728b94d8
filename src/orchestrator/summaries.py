"""Summaries made and published: debounced per brand after new results, at once after a spike,
and on demand. Published where the platform reads them (``summary:brand:{slug}``, with a TTL),
in the brand's history, on a stream and by pub/sub, so readers never poll."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator.brand_view import BrandView, Window
from orchestrator.errors import RegistryError
from orchestrator.keys import Keys
from orchestrator.llm import LLMWriter
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.store.connection import OUTAGES
from orchestrator.summarize import Summary, grounded
from orchestrator.summary_cache import SummaryCache

log = structlog.get_logger(__name__)

_encode = msgspec.json.Encoder().encode
decode_summary = msgspec.json.Decoder(Summary).decode


@dataclass(frozen=True)
class SummarySettings:
    window: Window = "all"
    min_interval_s: float = 30.0  # at most one summary per brand this often after new results
    ttl_s: float = 86_400.0  # of summary:brand:{slug}
    history: int = 50  # summaries kept per brand
    concurrency: int = 8  # summaries made at once (the original's p-limit)
    cache_s: float = 5.0  # a served summary is read from Redis again after this, at the latest


@dataclass
class Summaries:
    redis: Redis
    keys: Keys
    registry: Registry
    metrics: Metrics
    settings: SummarySettings = field(default_factory=SummarySettings)
    llm: LLMWriter | None = None  # None: the grounded provider only
    cache: SummaryCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = SummaryCache(self.redis, self.keys, self.settings.cache_s)

    async def refresh(self, slug: str) -> Summary:
        """Make the brand's summary now and publish it."""
        brand, view, raw = await asyncio.gather(  # three reads at once: one round trip's wait
            self.registry.get(slug),
            BrandView(self.redis, self.keys).aggregate(slug, self.settings.window),
            self.latest(slug),
        )
        summary = grounded(brand.name, view, decode_summary(raw) if raw else None)
        if self.llm is not None:
            summary = await self.llm.write(slug, brand.name, summary)
        await self._publish(slug, _encode(summary))
        self.metrics.summaries_made.labels(summary.provider.partition(":")[0]).inc()
        return summary

    async def latest(self, slug: str) -> bytes | None:
        return cast(bytes | None, await self.redis.get(self.keys.legacy_summary(slug)))

    async def history(self, slug: str, limit: int) -> list[bytes]:
        found = await self.redis.lrange(self.keys.summary_history(slug), 0, limit - 1)
        return cast(list[bytes], found)

    async def _publish(self, slug: str, document: bytes) -> None:
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(k.legacy_summary(slug), document, ex=int(self.settings.ttl_s))
            pipe.lpush(k.summary_history(slug), document)
            pipe.ltrim(k.summary_history(slug), 0, self.settings.history - 1)
            pipe.xadd(k.summary_stream, {"brand": slug, "m": document}, maxlen=10_000)
            await pipe.execute()
        # announced once stored, and on its own: a cluster pipeline refuses PUBLISH
        await self.redis.publish(k.summary_channel, slug)
        self.cache.put(slug, document)


@dataclass
class SummaryWatch:
    """A loop: brands with new results get a summary once ``min_interval_s`` has passed since
    their last one; a brand with a new spike gets one at the next step."""

    summaries: Summaries
    every_s: float = 1.0
    _due: dict[str, float] = field(default_factory=dict)  # brand → when (monotonic)
    _made: dict[str, float] = field(default_factory=dict)  # brand → last summary (monotonic)

    def touched(self, brands: set[str]) -> None:
        interval = self.summaries.settings.min_interval_s
        for brand in brands:
            if brand not in self._due:
                self._due[brand] = self._made.get(brand, -interval) + interval

    def now(self, brand: str) -> None:
        self._due[brand] = 0.0

    async def step(self) -> float:
        now = time.monotonic()
        due = [brand for brand, at in sorted(self._due.items(), key=lambda i: i[1]) if at <= now]
        for brand in due:
            del self._due[brand]
            self._made[brand] = now
        limit = asyncio.Semaphore(self.summaries.settings.concurrency)
        async with asyncio.TaskGroup() as group:
            for brand in due:
                group.create_task(self._refresh(brand, limit))
        return self.every_s

    async def _refresh(self, brand: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                await self.summaries.refresh(brand)
            except RegistryError:  # deleted since: nothing to summarize
                log.info("summary.skipped", brand=brand, reason="not registered")
            except OUTAGES as exc:  # the store is away: one line, not a traceback per brand
                log.warning("summary.failed", brand=brand, error=str(exc) or type(exc).__name__)
                self._due.setdefault(brand, time.monotonic() + self.every_s * 5)
            except Exception:  # try again later, the others go on
                log.exception("summary.failed", brand=brand)
                self._due.setdefault(brand, time.monotonic() + self.every_s * 5)
