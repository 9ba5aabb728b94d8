"""What a batch of chunk results adds to a brand's aggregate (pure, no I/O).

The original's semantics (DESIGN §4): sentiment counts and score summed, topics united (and
counted: the number of chunks naming each), mention count from ``meta.mentionCount`` else the
clusters' sizes, worker spike flags OR-ed. Every count also lands in time buckets at three
resolutions, so any window's figures add up to the totals:

- by mention time when the result lists its mentions with ``createdAt`` (our workers do), the
  sentiment labels too when they agree with the chunk's counts;
- otherwise in the bucket of ``processedAt``.

Topics, chunks, score and cluster counts go to the chunk's dominant bucket (most mentions).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.chunk_result import ChunkResult

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
RESOLUTIONS = {"minute": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS}
RETENTION_MS = {"minute": 48 * HOUR_MS, "hour": 90 * DAY_MS, "day": 730 * DAY_MS}


@dataclass(slots=True)
class Bucket:
    """Counts of one time bucket; stored as JSON with one-letter keys (``as_json``)."""

    volume: int = 0
    chunks: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    score: float = 0.0
    topics: Counter[str] = field(default_factory=Counter)
    clusters: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "v": self.volume,
            "c": self.chunks,
            "p": self.positive,
            "u": self.neutral,
            "n": self.negative,
            "s": self.score,
            "t": dict(self.topics),
            "k": dict(self.clusters),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Bucket:
        return cls(
            volume=int(doc.get("v", 0)),
            chunks=int(doc.get("c", 0)),
            positive=int(doc.get("p", 0)),
            neutral=int(doc.get("u", 0)),
            negative=int(doc.get("n", 0)),
            score=float(doc.get("s", 0.0)),
            topics=Counter({str(k): int(v) for k, v in (doc.get("t") or {}).items()}),
            clusters=Counter({str(k): int(v) for k, v in (doc.get("k") or {}).items()}),
        )

    def add(self, other: Bucket) -> None:
        self.volume += other.volume
        self.chunks += other.chunks
        self.positive += other.positive
        self.neutral += other.neutral
        self.negative += other.negative
        self.score += other.score
        self.topics.update(other.topics)
        self.clusters.update(other.clusters)


@dataclass
class Delta:
    """Everything a batch of results of one brand adds, ready for one atomic write."""

    chunks: dict[str, None] = field(default_factory=dict)  # ordered set of chunk ids
    totals: Bucket = field(default_factory=Bucket)
    worker_spikes: int = 0
    last_chunk: str = ""
    last_processed_ms: int = 0
    buckets: dict[str, dict[int, Bucket]] = field(
        default_factory=lambda: {name: {} for name in RESOLUTIONS}
    )

    def add(self, result: ChunkResult, cluster_ids: list[str], now_ms: int) -> bool:
        """Add one result, unless its chunk was added already (then False): ``cluster_ids``
        are the brand clusters its clusters merged into."""
        if result.chunk_id in self.chunks:
            return False
        self.chunks[result.chunk_id] = None
        count = result.mention_count
        processed_ms = _ms(result)
        if processed_ms >= self.last_processed_ms:
            self.last_chunk, self.last_processed_ms = result.chunk_id, processed_ms
        self.worker_spikes += result.spike_detected
        sizes = {cid: c.true_size for cid, c in zip(cluster_ids, result.clusters, strict=True)}
        times = _mention_times(result, count)
        chunk = _Chunk(result, count, sizes, labelled=times is not None and _labels_agree(result))
        chunk.add_to(self.totals, sentiment=True)
        for name, width in RESOLUTIONS.items():
            horizon = now_ms - RETENTION_MS[name]  # older buckets are expired already
            buckets = self.buckets[name]
            if times is None:
                start = processed_ms // width * width
                if start + width > horizon:
                    chunk.add_to(_bucket(buckets, start), sentiment=True)
                continue
            chunk.spread(times, buckets, width, horizon)
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "chunks": list(self.chunks),
            "totals": self.totals.as_json(),
            "workerSpikes": self.worker_spikes,
            "lastChunk": self.last_chunk,
            "lastProcessedAt": self.last_processed_ms,
            "buckets": {
                name: {str(start): bucket.as_json() for start, bucket in buckets.items()}
                for name, buckets in self.buckets.items()
            },
        }


def _ms(result: ChunkResult) -> int:
    return int(result.processed_at.timestamp() * 1000)


def seen_ms(result: ChunkResult) -> int:
    """When a result's mentions were written: the latest mention's time, else processedAt."""
    times = [int(m.created_at.timestamp() * 1000) for m in result.mentions if m.created_at]
    return max(times) if times else _ms(result)


def _mention_times(result: ChunkResult, count: int) -> list[int] | None:
    """Each mention's time (ms), when the result lists every mention with its time."""
    if len(result.mentions) != count or count == 0:
        return None
    times = [m.created_at for m in result.mentions]
    if any(t is None for t in times):
        return None
    return [int(t.timestamp() * 1000) for t in times if t is not None]


def _labels_agree(result: ChunkResult) -> bool:
    """Whether the per-mention labels add up to the chunk's sentiment counts."""
    labels = Counter(m.sentiment for m in result.mentions)
    sentiment = result.sentiment
    return (labels["positive"], labels["neutral"], labels["negative"]) == (
        sentiment.positive,
        sentiment.neutral,
        sentiment.negative,
    )


def _bucket(buckets: dict[int, Bucket], start: int) -> Bucket:
    bucket = buckets.get(start)
    if bucket is None:
        bucket = buckets[start] = Bucket()
    return bucket


def _count_label(bucket: Bucket, label: str | None) -> None:
    if label == "positive":
        bucket.positive += 1
    elif label == "neutral":
        bucket.neutral += 1
    elif label == "negative":
        bucket.negative += 1


class _Chunk:
    """One result's chunk-level counts, added to buckets without building a bucket for it."""

    __slots__ = ("count", "labelled", "result", "sizes", "topics")

    def __init__(
        self, result: ChunkResult, count: int, sizes: dict[str, int], *, labelled: bool
    ) -> None:
        self.result = result
        self.count = count
        self.sizes = sizes
        self.topics = dict.fromkeys(result.topics, 1)
        self.labelled = labelled  # per-mention labels that add up to the chunk's counts

    def spread(
        self, times: list[int], buckets: dict[int, Bucket], width: int, horizon: int
    ) -> None:
        """Add a chunk whose mentions have times: volume (and labels, when they agree with
        the chunk's counts) by mention; the chunk-level counts to its dominant bucket."""
        starts = [t // width * width for t in times]
        volume = Counter(starts)
        for start, n in volume.items():
            if start + width > horizon:
                _bucket(buckets, start).volume += n
        if self.labelled:
            for start, mention in zip(starts, self.result.mentions, strict=True):
                if start + width > horizon:
                    _count_label(_bucket(buckets, start), mention.sentiment)
        dominant = max(volume, key=lambda start: (volume[start], start))
        if dominant + width > horizon:
            self.add_to(_bucket(buckets, dominant), sentiment=not self.labelled, volume=False)

    def add_to(self, bucket: Bucket, *, sentiment: bool, volume: bool = True) -> None:
        if volume:
            bucket.volume += self.count
        if sentiment:
            counts = self.result.sentiment
            bucket.positive += counts.positive
            bucket.neutral += counts.neutral
            bucket.negative += counts.negative
        bucket.chunks += 1
        bucket.score += self.result.sentiment.score
        topics, clusters = bucket.topics, bucket.clusters  # Counter.update is slower than this
        for topic in self.topics:
            topics[topic] += 1
        for cluster_id, size in self.sizes.items():
            clusters[cluster_id] += size
