"""What results add to a brand's aggregate: the original's semantics, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.aggregate import DAY_MS, HOUR_MS, MINUTE_MS, Bucket, Delta
from orchestrator.chunk_result import ChunkResult, ClusterIn, MentionOut, Meta, Sentiment

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def result(
    chunk: str,
    positive: int = 1,
    neutral: int = 0,
    negative: int = 0,
    *,
    score: float = 0.0,
    topics: tuple[str, ...] = (),
    mention_count: int | None = None,
    clusters: tuple[ClusterIn, ...] = (),
    mentions: tuple[MentionOut, ...] = (),
    spike: bool = False,
    at: datetime = NOW,
) -> ChunkResult:
    return ChunkResult(
        chunk_id=chunk,
        brand="nike",
        processed_at=at,
        sentiment=Sentiment(positive, neutral, negative, score),
        topics=list(topics),
        clusters=list(clusters),
        spike_detected=spike,
        meta=Meta(mention_count=mention_count),
        mentions=list(mentions),
    )


def fold(results: list[ChunkResult]) -> Delta:
    delta = Delta()
    for r in results:
        delta.add(r, [c.id for c in r.clusters], NOW_MS)
    return delta


def test_sentiment_counts_and_scores_are_summed() -> None:
    delta = fold([result("a", 5, 2, 1, score=4.0), result("b", 1, 1, 3, score=-2.5)])
    t = delta.totals
    assert (t.positive, t.neutral, t.negative, t.score) == (6, 3, 4, 1.5)
    assert t.chunks == 2


def test_topics_are_united_and_counted_per_chunk() -> None:
    delta = fold([result("a", topics=("launch", "price")), result("b", topics=("launch",))])
    assert delta.totals.topics == {"launch": 2, "price": 1}


def test_mention_count_comes_from_meta_else_the_cluster_sizes() -> None:
    clusters = (ClusterIn(id="c1", mentions=["m1", "m2"]), ClusterIn(id="c2", mentions=["m3"]))
    with_meta = fold([result("a", mention_count=10, clusters=clusters)])
    without = fold([result("a", clusters=clusters)])
    assert with_meta.totals.volume == 10
    assert without.totals.volume == 3


def test_worker_spike_flags_are_counted() -> None:
    assert fold([result("a", spike=True), result("b"), result("c", spike=True)]).worker_spikes == 2


def test_a_chunk_added_twice_counts_once() -> None:
    delta = Delta()
    assert delta.add(result("a", 5), [], NOW_MS)
    assert not delta.add(result("a", 5), [], NOW_MS)
    assert delta.totals.positive == 5


def test_mentions_with_times_are_bucketed_by_when_they_were_written() -> None:
    minute = timedelta(minutes=1)
    mentions = (
        MentionOut(id="m1", created_at=NOW - 3 * minute, sentiment="positive"),
        MentionOut(id="m2", created_at=NOW - 3 * minute, sentiment="negative"),
        MentionOut(id="m3", created_at=NOW - minute, sentiment="positive"),
    )
    delta = fold([result("a", 2, 0, 1, mention_count=3, mentions=mentions, topics=("x",))])
    minutes = delta.buckets["minute"]
    three_ago, one_ago = NOW_MS - 3 * MINUTE_MS, NOW_MS - MINUTE_MS
    assert minutes[three_ago].volume == 2
    assert (minutes[three_ago].positive, minutes[three_ago].negative) == (1, 1)
    assert (minutes[one_ago].volume, minutes[one_ago].positive) == (1, 1)
    assert minutes[three_ago].topics == {"x": 1}  # chunk-level counts: the dominant bucket
    assert minutes[three_ago].chunks == 1
    assert delta.buckets["hour"][NOW_MS - HOUR_MS].volume == 3  # 11:57 and 11:59 in hour 11


def test_without_mention_times_everything_lands_at_processed_at() -> None:
    delta = fold([result("a", 3, 1, 0, mention_count=4, at=NOW - timedelta(days=1))])
    day = (NOW_MS - DAY_MS) // DAY_MS * DAY_MS
    assert delta.buckets["day"][day].volume == 4
    assert delta.buckets["minute"][NOW_MS - DAY_MS].positive == 3


def test_buckets_past_their_retention_are_not_written() -> None:
    delta = fold([result("a", at=NOW - timedelta(days=3))])  # minute buckets keep 48 h
    assert delta.buckets["minute"] == {}
    assert len(delta.buckets["hour"]) == 1


# Property tests: the order results arrive in and repeats never change the counts.

_mentions = st.lists(
    st.tuples(st.integers(0, 3 * 24 * 60), st.sampled_from(["positive", "neutral", "negative"])),
    min_size=1,
    max_size=8,
)


@st.composite
def results(draw: st.DrawFn, chunk: str) -> ChunkResult:
    rows = draw(_mentions)
    labels = [label for _, label in rows]
    mentions = tuple(
        MentionOut(id=f"{chunk}-{i}", created_at=NOW - timedelta(minutes=ago), sentiment=label)  # type: ignore[arg-type]
        for i, (ago, label) in enumerate(rows)
    )
    return result(
        chunk,
        labels.count("positive"),
        labels.count("neutral"),
        labels.count("negative"),
        score=draw(st.integers(-5, 5)) / 4,
        topics=tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))),
        mention_count=len(rows),
        mentions=mentions,
        spike=draw(st.booleans()),
    )


batches = st.integers(1, 12).flatmap(
    lambda n: st.tuples(*(results(f"chunk-{i}") for i in range(n))).map(list)
)


def _counts(delta: Delta) -> tuple[object, ...]:
    buckets = {
        name: {start: b.as_json() for start, b in sorted(found.items())}
        for name, found in delta.buckets.items()
    }
    totals = delta.totals.as_json()
    totals["s"] = round(totals["s"], 9)
    for found in buckets.values():
        for doc in found.values():
            doc["s"] = round(doc["s"], 9)
    return totals, buckets, delta.worker_spikes, sorted(delta.chunks)


@settings(max_examples=150, deadline=None)
@given(batch=batches, order=st.randoms(use_true_random=False))
def test_order_of_application_does_not_change_counts(
    batch: list[ChunkResult], order: object
) -> None:
    shuffled = list(batch)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _counts(fold(shuffled)) == _counts(fold(batch))


@settings(max_examples=150, deadline=None)
@given(batch=batches)
def test_applying_twice_equals_applying_once(batch: list[ChunkResult]) -> None:
    assert _counts(fold(batch + batch)) == _counts(fold(batch))


@settings(max_examples=100, deadline=None)
@given(batch=batches)
def test_every_resolution_adds_up_to_the_totals(batch: list[ChunkResult]) -> None:
    delta = fold(batch)
    for name in ("hour", "day"):  # minute buckets only keep 48 h of the 72 h drawn
        total = Bucket()
        for bucket in delta.buckets[name].values():
            total.add(bucket)
        assert (total.volume, total.positive, total.neutral, total.negative, total.chunks) == (
            delta.totals.volume,
            delta.totals.positive,
            delta.totals.neutral,
            delta.totals.negative,
            delta.totals.chunks,
        )
        assert total.topics == delta.totals.topics
