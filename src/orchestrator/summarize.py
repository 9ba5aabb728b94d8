"""The grounded summary of a brand (pure, no I/O): every number it states is the aggregate's,
every quote a real mention's, every statement cites what it rests on.

A superset of the original's summary document; the optional LLM provider (issue #5) will fill
the same shape and fall back to this one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from orchestrator.brand_view import AggregateView, ClusterView, SpikeView
from orchestrator.chunk_result import Representative

VERSION = 1
TOP_CLUSTERS = 5


class Statement(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One highlight or risk, with the mention ids and figures it rests on."""

    text: str
    mention_ids: list[str] = []
    figures: dict[str, float] = {}


class ClusterSummary(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: str
    label: str
    mention_count: int
    share: float
    sentiment: float
    spike: bool
    representatives: list[Representative]


class SentimentSummary(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    positive: int
    neutral: int
    negative: int
    score: float
    net_sentiment: float
    trend: float | None  # net sentiment now minus at the previous summary


class BasedOn(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    chunks: int
    last_chunk: str | None


class Summary(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    brand: str
    generated_at: datetime
    window: str
    total_mentions: int
    change: int | None  # against the previous summary
    sentiment: SentimentSummary
    dominant_topics: list[str]
    top_clusters: list[ClusterSummary]
    spike_detected: bool
    spikes: list[SpikeView]
    headline: str
    summary: str
    highlights: list[Statement]
    risks: list[Statement]
    provider: str
    based_on: BasedOn
    fallback_reason: str | None = None  # why the LLM's answer was not used
    version: int = VERSION


def grounded(name: str, view: AggregateView, previous: Summary | None = None) -> Summary:
    """The summary of ``view`` (``name`` is the brand's display name)."""
    clusters = [_cluster(c, view.total_mentions) for c in view.clusters[:TOP_CLUSTERS]]
    topics = [t.topic for t in view.topics[:5]]
    trend = (
        None
        if previous is None
        else round(view.net_sentiment - previous.sentiment.net_sentiment, 4)
    )
    sentiment = SentimentSummary(
        positive=view.sentiment.positive,
        neutral=view.sentiment.neutral,
        negative=view.sentiment.negative,
        score=view.sentiment.score,
        net_sentiment=view.net_sentiment,
        trend=trend,
    )
    return Summary(
        brand=view.brand,
        generated_at=datetime.now(UTC),
        window=view.window,
        total_mentions=view.total_mentions,
        change=None if previous is None else view.total_mentions - previous.total_mentions,
        sentiment=sentiment,
        dominant_topics=topics,
        top_clusters=clusters,
        spike_detected=view.spike_detected,
        spikes=view.spikes,
        headline=_headline(name, view),
        summary=_paragraph(name, view, clusters, topics),
        highlights=_highlights(view.clusters),
        risks=_risks(view.clusters, view.spikes),
        provider="grounded",
        based_on=BasedOn(chunks=view.total_chunks, last_chunk=view.last_chunk),
    )


def _cluster(cluster: ClusterView, total: int) -> ClusterSummary:
    count = cluster.mentions_in_window
    return ClusterSummary(
        id=cluster.id,
        label=cluster.label,
        mention_count=count,
        share=round(count / total, 4) if total else 0.0,
        sentiment=cluster.sentiment,
        spike=cluster.spike,
        representatives=cluster.representatives,
    )


def _headline(name: str, view: AggregateView) -> str:
    mood = _mood(view.net_sentiment)
    text = f"{name}: {view.total_mentions:,} mentions, {mood} (net sentiment {view.net_sentiment:+.2f})"  # noqa: E501
    if view.spikes:
        spike = view.spikes[-1]
        text += f"; spike on {spike.at:%d %b %H:%M} UTC ({spike.volume:,} mentions)"
    return text


def _paragraph(
    name: str, view: AggregateView, clusters: list[ClusterSummary], topics: list[str]
) -> str:
    s = view.sentiment
    parts = [
        f"{name} was mentioned {view.total_mentions:,} times ({view.window} window): "
        f"{s.positive:,} positive, {s.neutral:,} neutral and {s.negative:,} negative."
    ]
    if topics:
        parts.append(f"Most discussed: {', '.join(topics)}.")
    if clusters:
        biggest = clusters[0]
        parts.append(
            f"The largest theme, \u201c{biggest.label}\u201d, holds {biggest.mention_count:,} "
            f"mentions ({biggest.share:.0%})."
        )
    for spike in view.spikes[-2:]:
        parts.append(
            f"Volume spiked on {spike.at:%d %b at %H:%M} UTC: {spike.volume:,} mentions against "
            f"a baseline of {spike.baseline:.0f} (z = {spike.z_score:.1f})."
        )
    return " ".join(parts)


def _highlights(clusters: list[ClusterView]) -> list[Statement]:
    good = sorted((c for c in clusters if c.sentiment > 0.2), key=lambda c: -c.mentions_in_window)
    return [_statement(c, "well received") for c in good[:3]]


def _risks(clusters: list[ClusterView], spikes: list[SpikeView]) -> list[Statement]:
    bad = sorted((c for c in clusters if c.sentiment < -0.2), key=lambda c: -c.mentions_in_window)
    risks = [_statement(c, "a complaint") for c in bad[:3]]
    for spike in spikes[-2:]:
        drivers = ", ".join(c.id for c in spike.clusters) or "no single theme"
        risks.append(
            Statement(
                text=f"Spike on {spike.at:%d %b %H:%M} UTC: {spike.volume:,} mentions, driven by {drivers}.",  # noqa: E501
                figures={
                    "volume": spike.volume,
                    "baseline": spike.baseline,
                    "zScore": spike.z_score,
                },
            )
        )
    return risks


def _statement(cluster: ClusterView, what: str) -> Statement:
    quote = cluster.representatives[0] if cluster.representatives else None
    text = f"\u201c{cluster.label}\u201d is {what}: {cluster.mentions_in_window:,} mentions, sentiment {cluster.sentiment:+.2f}"  # noqa: E501
    if quote is not None:
        text += f" \u2014 \u201c{quote.text[:200]}\u201d"
    return Statement(
        text=text + ".",
        mention_ids=[r.id for r in cluster.representatives],
        figures={"mentions": cluster.mentions_in_window, "sentiment": cluster.sentiment},
    )


def _mood(net: float) -> str:
    if net >= 0.2:
        return "mostly positive"
    if net <= -0.2:
        return "mostly negative"
    return "mixed"
