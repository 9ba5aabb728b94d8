"""Read a brand's aggregate for a window, and its timeline: what the API and summaries serve.

A window's figures are sums of time buckets (minute buckets for 1h and 24h, hourly for 7d and
30d), so they agree with the timeline; ``all`` reads the running totals, which equal the sum of
every bucket ever written.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

import msgspec
from redis.asyncio import Redis

from orchestrator.aggregate import DAY_MS, HOUR_MS, MINUTE_MS, Bucket
from orchestrator.chunk_result import Representative
from orchestrator.clusters import Cluster, decode_cluster
from orchestrator.keys import Keys
from orchestrator.spike_watch import decode_event
from orchestrator.spikes import ClusterShare, SpikeEvent
from orchestrator.types import text

Window = Literal["1h", "24h", "7d", "30d", "all"]
BucketWidth = Literal["1m", "1h", "1d"]

WINDOWS: dict[str, tuple[int, str]] = {  # window → (duration ms, bucket resolution)
    "1h": (HOUR_MS, "minute"),
    "24h": (24 * HOUR_MS, "minute"),
    "7d": (7 * DAY_MS, "hour"),
    "30d": (30 * DAY_MS, "hour"),
}
BUCKETS: dict[str, tuple[int, str]] = {
    "1m": (MINUTE_MS, "minute"),
    "1h": (HOUR_MS, "hour"),
    "1d": (DAY_MS, "day"),
}
MAX_POINTS = 10_000


class SentimentView(msgspec.Struct, frozen=True):
    positive: int
    neutral: int
    negative: int
    score: float


class TopicView(msgspec.Struct, frozen=True):
    topic: str
    count: int


class ClusterView(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: str
    label: str
    size: int  # mentions ever merged into it
    mentions_in_window: int
    sentiment: float
    spike: bool
    sample_mention_ids: list[str]
    representatives: list[Representative]
    absorbed: list[str]
    model: str
    first_seen: datetime
    last_seen: datetime


class SpikeView(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    at: datetime
    resolution: str
    volume: int
    baseline: float
    stddev: float
    z_score: float
    clusters: list[ClusterShare]

    @classmethod
    def of(cls, event: SpikeEvent) -> SpikeView:
        fields = msgspec.structs.asdict(event)
        return cls(**{**fields, "at": _datetime(event.at)})


class AggregateView(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    brand: str
    window: str
    total_chunks: int
    total_mentions: int
    sentiment: SentimentView
    net_sentiment: float
    topics: list[TopicView]
    clusters: list[ClusterView]
    spike_detected: bool
    spikes: list[SpikeView]
    pending_chunks: int
    last_chunk: str | None
    updated_at: datetime | None


class Point(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    at: datetime
    volume: int
    chunks: int
    positive: int
    neutral: int
    negative: int
    score: float


class TimelineView(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    brand: str
    bucket: str
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    points: list[Point]
    spikes: list[SpikeView]


@dataclass(frozen=True)
class BrandView:
    redis: Redis
    keys: Keys
    top_topics: int = 20
    top_clusters: int = 10

    async def aggregate(
        self, brand: str, window: Window, now_ms: int | None = None
    ) -> AggregateView:
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        k = self.keys
        since = 0
        if window != "all":
            duration, resolution = WINDOWS[window]
            width = MINUTE_MS if resolution == "minute" else HOUR_MS
            since = (now_ms - duration) // width * width
        async with self.redis.pipeline(transaction=False) as pipe:  # one round trip
            pipe.hgetall(k.aggregate(brand))
            pipe.hvals(k.clusters(brand))
            pipe.hlen(k.pending_chunks(brand))
            pipe.zrevrange(k.topics(brand), 0, self.top_topics - 1, withscores=True)
            pipe.zrangebyscore(k.spikes(brand), since, now_ms)
            totals_raw, cluster_blobs, pending, top, spike_blobs = await pipe.execute()
        fields = {text(key): text(value) for key, value in totals_raw.items()}
        clusters = [decode_cluster(blob) for blob in cluster_blobs]
        if window == "all":
            totals = _totals(fields)
            counted_topics = sorted(
                ((text(t), int(n)) for t, n in top), key=lambda tn: (-tn[1], tn[0])
            )
            topics = [TopicView(t, n) for t, n in counted_topics]
            in_window: Counter[str] = Counter({c.id: c.size for c in clusters})
        else:
            totals = await self._sum(brand, resolution, since, now_ms, width)
            ordered = sorted(totals.topics.items(), key=lambda item: (-item[1], item[0]))
            topics = [TopicView(t, n) for t, n in ordered[: self.top_topics]]
            in_window = totals.clusters
        shown = sorted(
            (c for c in clusters if in_window.get(c.id, 0) > 0 or c.last_seen >= since),
            key=lambda c: (-in_window.get(c.id, 0), -c.size, c.id),
        )[: self.top_clusters]
        spikes = [SpikeView.of(decode_event(raw)) for raw in spike_blobs]
        updated = fields.get("updatedAt")
        counted = totals.positive + totals.neutral + totals.negative
        return AggregateView(
            brand=brand,
            window=window,
            total_chunks=totals.chunks,
            total_mentions=totals.volume,
            sentiment=SentimentView(
                totals.positive, totals.neutral, totals.negative, round(totals.score, 6)
            ),
            net_sentiment=round((totals.positive - totals.negative) / counted, 4)
            if counted
            else 0.0,
            topics=topics,
            clusters=[_cluster_view(c, in_window.get(c.id, 0)) for c in shown],
            spike_detected=bool(spikes)
            or any(c.spike for c in shown)
            or (window == "all" and int(fields.get("workerSpikes", 0)) > 0),
            spikes=spikes,
            pending_chunks=int(pending),
            last_chunk=fields.get("lastChunk"),
            updated_at=_datetime(int(updated)) if updated else None,
        )

    async def timeline(
        self, brand: str, bucket: BucketWidth, start_ms: int, end_ms: int
    ) -> TimelineView:
        """Every bucket from ``start_ms`` to ``end_ms`` (zeros where nothing was counted)."""
        width, resolution = BUCKETS[bucket]
        first = start_ms // width * width
        starts = list(range(first, end_ms, width))[:MAX_POINTS]
        raws = (
            await self.redis.hmget(self.keys.buckets(brand, resolution), [str(s) for s in starts])
            if starts
            else []
        )
        points = []
        for at, raw in zip(starts, raws, strict=True):
            b = Bucket.from_json(json.loads(raw)) if raw else Bucket()
            points.append(
                Point(
                    at=_datetime(at),
                    volume=b.volume,
                    chunks=b.chunks,
                    positive=b.positive,
                    neutral=b.neutral,
                    negative=b.negative,
                    score=round(b.score, 6),
                )
            )
        return TimelineView(
            brand=brand,
            bucket=bucket,
            start=_datetime(start_ms),
            end=_datetime(end_ms),
            points=points,
            spikes=await self._spikes(brand, first, end_ms),
        )

    async def _sum(
        self, brand: str, resolution: str, since: int, now_ms: int, width: int
    ) -> Bucket:
        starts = [str(s) for s in range(since, now_ms + 1, width)]
        total = Bucket()
        for raw in await self.redis.hmget(self.keys.buckets(brand, resolution), starts):
            if raw:
                total.add(Bucket.from_json(json.loads(raw)))
        return total

    async def _spikes(self, brand: str, since: int, until: int) -> list[SpikeView]:
        found = cast(
            list[bytes], await self.redis.zrangebyscore(self.keys.spikes(brand), since, until)
        )
        return [SpikeView.of(decode_event(raw)) for raw in found]


def _totals(fields: dict[str, str]) -> Bucket:
    return Bucket(
        volume=int(fields.get("mentions", 0)),
        chunks=int(fields.get("chunks", 0)),
        positive=int(fields.get("positive", 0)),
        neutral=int(fields.get("neutral", 0)),
        negative=int(fields.get("negative", 0)),
        score=float(fields.get("score", 0.0)),
    )


def _cluster_view(cluster: Cluster, in_window: int) -> ClusterView:
    return ClusterView(
        id=cluster.id,
        label=cluster.label,
        size=cluster.size,
        mentions_in_window=in_window,
        sentiment=round(cluster.sentiment, 4),
        spike=cluster.spike,
        sample_mention_ids=cluster.sample,
        representatives=cluster.representatives,
        absorbed=cluster.absorbed,
        model=cluster.model,
        first_seen=_datetime(cluster.first_seen),
        last_seen=_datetime(cluster.last_seen),
    )


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
