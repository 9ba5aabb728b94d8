"""What each dashboard page shows, read from the in-process services with the same calls as the
JSON API (registry, brand view, summaries, task queue, lease, fleet, replicas, parking)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.aggregate import HOUR_MS
from orchestrator.app.deps import Services
from orchestrator.brand import Brand
from orchestrator.brand_view import AggregateView, SpikeView, TimelineView, Window
from orchestrator.chunk_result import Representative
from orchestrator.dashboard.charts import Range, Sparkline, chart_data, span_of, sparkline
from orchestrator.dispatch import StreamStats
from orchestrator.fleet import WorkerView
from orchestrator.leader import Leadership
from orchestrator.parking import Parked
from orchestrator.protocol import DeadLetter
from orchestrator.replicas import ReplicaView
from orchestrator.summaries import decode_summary
from orchestrator.summarize import Summary
from orchestrator.supervisor import LoopStatus
from orchestrator.types import BrandStatus

PAGE_SIZE = 50
DEAD_SHOWN = 50
PARKED_SHOWN = 20
SPIKE_BADGE_DAYS = 7
WINDOWS: tuple[Window, ...] = ("1h", "24h", "7d", "30d", "all")


@dataclass(frozen=True)
class BrandRow:
    brand: Brand
    mentions_24h: int
    net_sentiment: float
    sparkline: Sparkline
    spike: SpikeView | None  # the latest within SPIKE_BADGE_DAYS
    updated_at: datetime | None


@dataclass(frozen=True)
class BrandList:
    rows: list[BrandRow]
    q: str
    status: BrandStatus | None
    next_cursor: str | None


async def brand_list(
    services: Services, q: str, status: BrandStatus | None, cursor: str | None
) -> BrandList:
    page = await services.registry.page(status=status, q=q or None, limit=PAGE_SIZE, cursor=cursor)
    brands = [Brand.model_validate_json(document) for document in page.documents]
    now_ms = _now_ms()
    rows = await asyncio.gather(*(_brand_row(services, brand, now_ms) for brand in brands))
    return BrandList(list(rows), q, status, page.next_cursor)


async def _brand_row(services: Services, brand: Brand, now_ms: int) -> BrandRow:
    """The last 24 hours from minute buckets (the sums ``aggregate?window=24h`` makes, without
    decoding the brand's clusters), spikes from the daily timeline."""
    view, day = services.brand_view, 24 * HOUR_MS
    minutes, days, updated = await asyncio.gather(
        view.timeline(brand.slug, "1m", now_ms - day, now_ms),
        view.timeline(brand.slug, "1d", now_ms - SPIKE_BADGE_DAYS * day, now_ms),
        services.redis.hget(services.registry.keys.aggregate(brand.slug), "updatedAt"),
    )
    points = minutes.points
    positive, negative = sum(p.positive for p in points), sum(p.negative for p in points)
    counted = positive + negative + sum(p.neutral for p in points)
    last_day = [p.volume for p in points[-1440:]]  # 24 whole hours for the sparkline
    hourly = [sum(last_day[start : start + 60]) for start in range(0, len(last_day), 60)]
    return BrandRow(
        brand=brand,
        mentions_24h=sum(p.volume for p in points),
        net_sentiment=round((positive - negative) / counted, 4) if counted else 0.0,
        sparkline=sparkline(hourly),
        spike=days.spikes[-1] if days.spikes else None,
        updated_at=datetime.fromtimestamp(int(updated) / 1000, UTC) if updated else None,
    )


@dataclass(frozen=True)
class BrandPage:
    brand: Brand
    range: Range
    summary: Summary | None
    aggregate: AggregateView
    timeline: TimelineView
    charts: dict[str, Any]
    cited: dict[str, Representative] = field(default_factory=dict)  # mention id → the mention


async def brand_page(services: Services, slug: str, range_: Range) -> BrandPage:
    brand = await services.registry.get(slug)
    now = datetime.now(UTC)
    span = span_of(range_, now, await _first_data(services, slug))
    view = services.brand_view
    aggregate, timeline, raw = await asyncio.gather(
        view.aggregate(slug, span.window, _ms(now)),
        view.timeline(slug, span.bucket, _ms(span.start), _ms(span.end)),
        services.summaries.latest(slug),
    )
    summary = decode_summary(raw) if raw else None
    cited = _cited(summary, aggregate)
    if summary is not None and summary.window != span.window:  # what the summary cites
        cited = _cited(None, await view.aggregate(slug, _window(summary.window))) | cited
    return BrandPage(
        brand=brand,
        range=range_,
        summary=summary,
        aggregate=aggregate,
        timeline=timeline,
        charts=chart_data(timeline),
        cited=cited,
    )


def _window(name: str) -> Window:
    return next((w for w in WINDOWS if w == name), "all")


async def _first_data(services: Services, slug: str) -> datetime | None:
    """The start of the brand's first daily bucket (kept two years at most)."""
    keys = services.registry.keys
    starts = await services.redis.hkeys(keys.buckets(slug, "day"))
    if not starts:
        return None
    return datetime.fromtimestamp(min(int(s) for s in starts) / 1000, UTC)


def _cited(summary: Summary | None, aggregate: AggregateView) -> dict[str, Representative]:
    """The mentions a summary may cite, by id: its clusters' and the aggregate's representatives."""
    found: dict[str, Representative] = {}
    clusters = [c.representatives for c in aggregate.clusters]
    if summary is not None:
        clusters += [c.representatives for c in summary.top_clusters]
    for representatives in clusters:
        for mention in representatives:
            found.setdefault(mention.id, mention)
    return found


@dataclass(frozen=True)
class SystemPage:
    replica_id: str
    leadership: Leadership
    replicas: list[ReplicaView]
    workers: list[WorkerView]
    streams: list[StreamStats]
    in_flight: int
    dead: list[tuple[str, DeadLetter]]
    dead_total: int
    parked: list[Parked]
    loops: list[LoopStatus]
    redis_up: bool

    @property
    def leader_since(self) -> datetime | None:
        since_ms = self.leadership.since_ms
        return datetime.fromtimestamp(since_ms / 1000, UTC) if since_ms else None


async def system_page(services: Services) -> SystemPage:
    leadership = await services.lease.current()
    replicas, workers, streams, in_flight, dead, parked = await asyncio.gather(
        services.replicas.views(leadership.owner),
        services.fleet.workers(),
        services.queue.stream_stats(),
        services.queue.in_flight(),
        services.queue.dead_page(DEAD_SHOWN, None),
        services.parking.page(PARKED_SHOWN),
    )
    return SystemPage(
        replica_id=services.settings.orchestrator_id,
        leadership=leadership,
        replicas=replicas,
        workers=workers,
        streams=streams,
        in_flight=in_flight.get("*", 0),
        dead=dead.letters,
        dead_total=streams[-1].length,  # the dead-letter stream comes last
        parked=parked.items,
        loops=services.supervisor.statuses,
        redis_up=services.redis_watch.state.up,
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _now_ms() -> int:
    return _ms(datetime.now(UTC))


def ago(at: datetime | None, now: datetime | None = None) -> str:
    """A coarse relative time for people ("just now", "3 min ago", "2 h ago", "4 d ago"):
    coarse, so that a live region does not change every second for its clock alone."""
    if at is None:
        return "never"
    seconds = max(0, int(((now or datetime.now(UTC)) - at) / timedelta(seconds=1)))
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now" if seconds < 15 else "under a minute ago"
