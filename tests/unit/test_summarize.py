"""The grounded summary states the aggregate's numbers and quotes real mentions only."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.brand_view import AggregateView, ClusterView, SentimentView, SpikeView, TopicView
from orchestrator.chunk_result import Representative
from orchestrator.spikes import ClusterShare
from orchestrator.summarize import grounded

AT = datetime(2026, 11, 27, 14, tzinfo=UTC)


def cluster(cid: str, label: str, size: int, sentiment: float, quote: str) -> ClusterView:
    return ClusterView(
        id=cid, label=label, size=size, mentions_in_window=size, sentiment=sentiment,
        spike=False, sample_mention_ids=[f"{cid}-1"],
        representatives=[Representative(id=f"{cid}-1", text=quote)], absorbed=[],
        model="m", first_seen=AT, last_seen=AT,
    )  # fmt: skip


VIEW = AggregateView(
    brand="quillfern", window="all", total_chunks=38, total_mentions=3737,
    sentiment=SentimentView(1457, 1299, 981, 343.12), net_sentiment=0.1273,
    topics=[TopicView("battery", 30), TopicView("recall", 12)],
    clusters=[
        cluster("c1", "recall / case", 400, -0.71, "Asked to stop using the charging case"),
        cluster("c2", "sound / bass", 300, 0.66, "The bass on the Arc is gorgeous"),
    ],
    spike_detected=True,
    spikes=[SpikeView(at=AT, resolution="hour", volume=106, baseline=27.1, stddev=10.6,
                      z_score=7.4, clusters=[ClusterShare("c1", 12)])],
    pending_chunks=0, last_chunk="quillfern-38", updated_at=AT,
)  # fmt: skip


def test_every_number_is_the_aggregates() -> None:
    summary = grounded("Quillfern Audio", VIEW)
    assert summary.total_mentions == 3737
    assert (summary.sentiment.positive, summary.sentiment.negative) == (1457, 981)
    assert "3,737 mentions" in summary.headline
    assert "1,457 positive, 1,299 neutral and 981 negative" in summary.summary
    assert "106 mentions against a baseline of 27 (z = 7.4)" in summary.summary
    assert summary.dominant_topics == ["battery", "recall"]
    assert summary.top_clusters[0].share == round(400 / 3737, 4)
    assert summary.based_on.chunks == 38
    assert summary.provider == "grounded"


def test_statements_cite_real_mentions() -> None:
    summary = grounded("Quillfern Audio", VIEW)
    quotes = {rep.id: rep.text for c in VIEW.clusters for rep in c.representatives}
    (highlight,) = summary.highlights
    assert highlight.mention_ids == ["c2-1"]
    assert quotes["c2-1"] in highlight.text
    assert summary.risks[0].mention_ids == ["c1-1"]
    assert summary.risks[-1].figures == {"volume": 106, "baseline": 27.1, "zScore": 7.4}


def test_change_and_trend_against_the_previous_summary() -> None:
    previous = grounded("Quillfern Audio", VIEW)
    later = AggregateView(**{**{f: getattr(VIEW, f) for f in VIEW.__struct_fields__},
                             "total_mentions": 3800, "net_sentiment": 0.1})  # fmt: skip
    summary = grounded("Quillfern Audio", later, previous)
    assert summary.change == 63
    assert summary.sentiment.trend == round(0.1 - 0.1273, 4)
