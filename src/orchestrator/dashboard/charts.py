"""What the dashboard draws, as plain values (pure, no I/O): the brand list's sparklines as SVG
paths, and the series the brand page hands to uPlot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from orchestrator.brand_view import BucketWidth, Point, SpikeView, TimelineView, Window

Range = Literal["24h", "7d", "30d", "all"]
RANGES: tuple[Range, ...] = ("24h", "7d", "30d", "all")


@dataclass(frozen=True)
class Sparkline:
    """An SVG polyline of ``values`` in a ``width`` by ``height`` box (the top is the maximum)."""

    path: str
    width: int
    height: int
    total: int
    peak: int


def sparkline(values: list[int], width: int = 120, height: int = 28) -> Sparkline:
    if not values:
        return Sparkline("", width, height, 0, 0)
    peak = max(values)
    step = width / max(1, len(values) - 1)
    inner = height - 2  # one unit of margin above and below, for the stroke

    def y(value: int) -> float:
        return 1 + inner - (inner * value / peak if peak else 0)

    points = [f"{i * step:.1f},{y(v):.1f}" for i, v in enumerate(values)]
    return Sparkline("M" + " L".join(points), width, height, sum(values), peak)


@dataclass(frozen=True)
class Span:
    """The time span a brand page shows: its bucket width and the aggregate window to match."""

    bucket: BucketWidth
    start: datetime
    end: datetime
    window: Window


def span_of(range_: Range, now: datetime, first: datetime | None) -> Span:
    """``all`` starts at the brand's first data (hourly buckets up to two weeks, else daily)."""
    if range_ == "24h":
        return Span("1h", now - timedelta(hours=24), now, "24h")
    if range_ == "7d":
        return Span("1h", now - timedelta(days=7), now, "7d")
    if range_ == "30d":
        return Span("1d", now - timedelta(days=30), now, "30d")
    start = min(first or now - timedelta(days=7), now - timedelta(hours=24))
    start = start.replace(minute=0, second=0, microsecond=0)
    bucket: BucketWidth = "1h" if now - start <= timedelta(days=14) else "1d"
    return Span(bucket, start, now, "all")


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def net(point: Point) -> float | None:
    """Net sentiment of one bucket, None when it holds no labelled mention."""
    counted = point.positive + point.neutral + point.negative
    return round((point.positive - point.negative) / counted, 4) if counted else None


def spike_marks(spikes: list[SpikeView]) -> list[dict[str, Any]]:
    return [
        {
            "at": _epoch(s.at),
            "label": f"Spike {s.at:%d %b %H:%M} UTC: {s.volume:,} mentions (z = {s.z_score:.1f})",
        }
        for s in spikes
    ]


def chart_data(timeline: TimelineView) -> dict[str, Any]:
    """The brand page's two charts, as the JSON its script reads from a data attribute."""
    xs = [_epoch(p.at) for p in timeline.points]
    return {
        "bucket": timeline.bucket,
        "volume": {"x": xs, "y": [p.volume for p in timeline.points]},
        "sentiment": {
            "x": xs,
            "net": [net(p) for p in timeline.points],
            "positive": [p.positive for p in timeline.points],
            "negative": [p.negative for p in timeline.points],
        },
        "spikes": spike_marks(timeline.spikes),
    }
