"""Cluster merges: the original's threshold rule, the merge arithmetic, identity, eviction,
and the two similarity rules measured on a labelled fixture."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.chunk_result import ChunkResult, ClusterIn, InvalidResultError, Sentiment
from orchestrator.clusters import (
    BrandClusters,
    Cluster,
    MergeSettings,
    decode_cluster,
    encode_cluster,
)
from orchestrator.types import MergeRule

AT = datetime(2026, 1, 1, tzinfo=UTC)
COSINE = MergeSettings(rule=MergeRule.COSINE, own_rule=MergeRule.COSINE)


def chunk(
    chunk_id: str, *clusters: ClusterIn, model: str | None = None, at: datetime = AT
) -> ChunkResult:
    return ChunkResult(
        chunk_id=chunk_id,
        brand="nike",
        processed_at=at,
        sentiment=Sentiment(1, 0, 0),
        clusters=list(clusters),
        embedding_model=model,
    )


def at_angle(cosine: float) -> list[float]:
    """A unit vector whose cosine with [1, 0] is ``cosine``."""
    return [cosine, math.sqrt(1 - cosine * cosine)]


def brand_with(*clusters: ClusterIn, merge: MergeSettings = COSINE) -> BrandClusters:
    brand = BrandClusters([], merge)
    for i, cluster in enumerate(clusters):
        brand.apply(chunk(f"seed-{i}", cluster), 1_000 * i)
    return brand


def test_a_cluster_exactly_at_the_threshold_merges() -> None:
    brand = brand_with(ClusterIn(id="a", mentions=["m1"], centroid=[1.0, 0.0]))
    merged = brand.apply(
        chunk("c2", ClusterIn(id="b", mentions=["m2"], centroid=at_angle(0.75))), 5
    )
    assert merged == ["a"]
    assert len(brand) == 1


def test_a_cluster_just_below_the_threshold_is_kept_apart() -> None:
    brand = brand_with(ClusterIn(id="a", mentions=["m1"], centroid=[1.0, 0.0]))
    merged = brand.apply(
        chunk("c2", ClusterIn(id="b", mentions=["m2"], centroid=at_angle(0.7499))), 5
    )
    assert merged == ["b"]
    assert len(brand) == 2


def test_a_merge_keeps_the_id_and_weights_by_size() -> None:
    brand = brand_with(
        ClusterIn(id="launch", label="Launch", mentions=["m1", "m2", "m3"], centroid=[1.0, 0.0],
                  sentiment_score=0.9, spike=False)
    )  # fmt: skip
    incoming = ClusterIn(
        id="launch-2", label="Other", mentions=["m3", "m4"], size=1, centroid=[0.8, 0.6],
        sentiment_score=0.1, spike=True,
    )  # fmt: skip
    brand.apply(chunk("c2", incoming, at=datetime(2026, 1, 2, tzinfo=UTC)), 86_400_000)
    merged = brand.stored("launch")
    assert merged.size == 4  # 3 + the declared true size 1
    assert merged.sample == ["m1", "m2", "m3", "m4"]  # union of ids
    assert merged.vector() == pytest.approx([(3 * 1.0 + 0.8) / 4, (3 * 0.0 + 0.6) / 4], abs=1e-6)
    assert merged.sentiment == pytest.approx((3 * 0.9 + 0.1) / 4)
    assert merged.spike is True
    assert merged.label == "Launch"
    assert merged.absorbed == ["launch-2"]
    assert (merged.first_seen, merged.last_seen) == (0, 86_400_000)


def test_only_centroids_of_the_same_model_are_compared() -> None:
    brand = brand_with(ClusterIn(id="a", centroid=[1.0, 0.0]))
    merged = brand.apply(chunk("c2", ClusterIn(id="a", centroid=[1.0, 0.0]), model="other"), 1)
    assert merged == ["a~2"]  # a new cluster, with an id of its own
    assert {c.model for c in brand.by_id.values()} == {"unnamed", "other"}


def test_a_centroid_of_another_dimension_for_the_same_model_is_refused() -> None:
    brand = brand_with(ClusterIn(id="a", centroid=[1.0, 0.0]))
    with pytest.raises(InvalidResultError, match="dimension 3"):
        brand.check(chunk("c2", ClusterIn(id="b", centroid=[1.0, 0.0, 0.0])))


def test_clusters_without_centroids_merge_by_id() -> None:
    brand = brand_with(ClusterIn(id="a", mentions=["m1"]))
    assert brand.apply(chunk("c2", ClusterIn(id="a", mentions=["m2"])), 1) == ["a"]
    assert brand.by_id["a"].size == 2


def test_the_least_recently_seen_smallest_clusters_are_evicted() -> None:
    merge = MergeSettings(max_clusters=3, rule=MergeRule.COSINE)
    brand = BrandClusters([], merge)
    hour = 3_600_000
    axes = np.eye(4).tolist()
    brand.apply(
        chunk("1", ClusterIn(id="old-big", mentions=["a"] * 1, size=50, centroid=axes[0])), 0
    )
    brand.apply(chunk("2", ClusterIn(id="old-small", size=2, centroid=axes[1])), 0)
    brand.apply(chunk("3", ClusterIn(id="new", size=1, centroid=axes[2])), 5 * hour)
    brand.apply(chunk("4", ClusterIn(id="newest", size=1, centroid=axes[3])), 6 * hour)
    assert len(brand) == 4  # over the maximum until the batch ends
    assert brand.evict() == ["old-small"]
    assert set(brand.by_id) == {"old-big", "new", "newest"}
    assert brand.removed == {"old-small"}


def test_clusters_survive_their_storage_format() -> None:
    brand = brand_with(ClusterIn(id="a", mentions=["m1"], centroid=[0.25, 0.5]))
    brand.apply(chunk("c2", ClusterIn(id="b", mentions=["m2"], centroid=[0.5, 1.0])), 1)
    stored = decode_cluster(encode_cluster(brand.stored("a")))
    assert isinstance(stored, Cluster)
    assert stored.vector() == pytest.approx([0.375, 0.75])  # the merged mean


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.sampled_from([[1.0, 0.0], [0.0, 1.0], [0.9, 0.44]])),
        min_size=1,
        max_size=20,
    ),
    st.randoms(use_true_random=False),
)
def test_merges_never_lose_or_invent_mentions(
    rows: list[tuple[int, list[float]]], order: object
) -> None:
    incoming = [ClusterIn(id=f"c{i}", size=n, centroid=v) for i, (n, v) in enumerate(rows)]
    order.shuffle(incoming)  # type: ignore[attr-defined]
    brand = BrandClusters([], COSINE)
    for i, cluster in enumerate(incoming):
        brand.apply(chunk(f"chunk-{i}", cluster), i)
    assert sum(c.size for c in brand.by_id.values()) == sum(n for n, _ in rows)


# Merge quality on a labelled fixture. Sentence embeddings are anisotropic: every text shares a
# large common component, so unrelated themes have a raw cosine near 0.78 here, as with
# all-MiniLM-L6-v2. Six themes; each chunk holds clusters of three of them.

THEMES = 6


def labelled_chunks(seed: int = 7) -> list[tuple[ChunkResult, list[int]]]:
    rng = np.random.default_rng(seed)
    dimension = 64
    common = rng.normal(size=dimension)
    common /= np.linalg.norm(common)
    themes = rng.normal(size=(THEMES, dimension))
    themes /= np.linalg.norm(themes, axis=1, keepdims=True)
    chunks = []
    for i in range(40):
        picked = rng.choice(THEMES, size=3, replace=False)
        clusters = []
        for theme in picked:
            members = common + 0.53 * themes[theme] + rng.normal(scale=0.06, size=(10, dimension))
            members /= np.linalg.norm(members, axis=1, keepdims=True)
            clusters.append(
                ClusterIn(id=f"t{theme}", size=10, centroid=members.mean(axis=0).tolist())
            )
        result = chunk(f"chunk-{i}", *clusters, model="orchestrator/fixture")
        chunks.append((result, [int(t) for t in picked]))
    return chunks


def merge_quality(rule: MergeRule) -> tuple[float, int]:
    """(purity: the share of mentions in a cluster whose majority theme is theirs, clusters)."""
    brand = BrandClusters([], MergeSettings(own_rule=rule))
    members: dict[str, Counter[int]] = {}
    for i, (result, themes) in enumerate(labelled_chunks()):
        for cluster_id, theme in zip(brand.apply(result, i), themes, strict=True):
            members.setdefault(cluster_id, Counter())[theme] += 10
    total = sum(sum(c.values()) for c in members.values())
    majority = sum(c.most_common(1)[0][1] for c in members.values())
    return majority / total, len(brand)


def test_the_fixture_is_anisotropic_like_sentence_embeddings() -> None:
    result, themes = labelled_chunks()[0]
    a, b = (np.asarray(c.centroid) for c in result.clusters[:2])
    assert themes[0] != themes[1]
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.75


def test_raw_cosine_collapses_distinct_themes_and_centred_cosine_keeps_them_apart() -> None:
    raw_purity, raw_clusters = merge_quality(MergeRule.COSINE)
    centred_purity, centred_clusters = merge_quality(MergeRule.CENTRED)
    assert raw_purity < 0.5  # most themes end in one cluster
    assert centred_purity >= 0.95
    assert THEMES <= centred_clusters <= 2 * THEMES
    assert raw_clusters < THEMES


def test_a_float32_centroid_is_the_same_vector_as_its_json_numbers() -> None:
    packed = np.asarray([0.6, 0.8], dtype="<f4").tobytes()
    brand = brand_with(ClusterIn(id="a", mentions=["m1"], centroid=[0.6, 0.8]))
    merged = brand.apply(chunk("c2", ClusterIn(id="b", mentions=["m2"], centroid_f32=packed)), 1)
    assert merged == ["a"]
    assert brand.stored("a").vector() == pytest.approx([0.6, 0.8])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2e6])
def test_a_float32_centroid_must_be_finite_and_in_range(value: float) -> None:
    packed = np.asarray([1.0, value], dtype="<f4").tobytes()
    with pytest.raises(InvalidResultError, match=r"\$\.clusters\[0\]\.centroidF32"):
        BrandClusters([], COSINE).check(chunk("c1", ClusterIn(id="a", centroid_f32=packed)))


# A batch's centroids are compared a block at a time (one matrix product per block, products
# kept current as merges change rows): the outcome must be the one of merging them one by one.


def themed_batch(
    seed: int, results: int, prefix: str, themes_used: int, weight: int = 1
) -> list[ChunkResult]:
    """Results of 5 clusters each over the first ``themes_used`` of 40 anisotropic themes
    (merges, new clusters and, with the centred rule, a moving mean), plus results without
    centroids and of another model. ``weight`` multiplies the clusters' sizes."""
    shared = np.random.default_rng(0)
    dimension = 48
    common = shared.normal(size=dimension)
    themes = shared.normal(size=(40, dimension))
    rng = np.random.default_rng(seed)
    batch = []
    for i in range(results):
        picked = rng.choice(themes_used, size=5, replace=False)
        vectors = common + themes[picked] + rng.normal(scale=0.5, size=(5, dimension))
        clusters = [
            ClusterIn(
                id=f"{prefix}{i}-{j}", size=weight * int(rng.integers(1, 40)), centroid=v.tolist()
            )
            for j, v in enumerate(vectors)
        ]
        batch.append(chunk(f"{prefix}{i}", *clusters, model="orchestrator/fixture"))
        if i % 7 == 0:
            batch.append(chunk(f"plain-{i}", ClusterIn(id=f"p{i % 3}", mentions=[f"m{i}"])))
        if i % 11 == 0:
            other = ClusterIn(id=f"o{i}", size=3, centroid=rng.normal(size=4).tolist())
            batch.append(chunk(f"other-{i}", other, model="other"))
    return batch


@pytest.mark.parametrize(
    ("rule", "seed_weight"),
    [
        (MergeRule.COSINE, 1),
        (MergeRule.CENTRED, 1),  # the mean moves with every result: re-centred each time
        (MergeRule.CENTRED, 100_000),  # it barely moves: merges keep r.m current themselves
    ],
)
def test_merging_a_batch_in_blocks_is_merging_each_result_in_turn(
    rule: MergeRule, seed_weight: int
) -> None:
    merge = MergeSettings(threshold=0.75, rule=rule, own_rule=rule, max_clusters=10_000)
    seed = themed_batch(1, 20, "seed", themes_used=30, weight=seed_weight)
    batch = themed_batch(2, 120, "new", themes_used=40)  # 600 centroids: several blocks
    one_by_one, in_blocks = BrandClusters([], merge), BrandClusters([], merge)
    for brand in (one_by_one, in_blocks):
        for i, result in enumerate(seed):
            brand.apply(result, i)
    expected = [one_by_one.apply(result, 100 + i) for i, result in enumerate(batch)]
    checked = [(result, 100 + i, in_blocks.check(result)) for i, result in enumerate(batch)]
    assert in_blocks.apply_all(checked) == expected
    targets = Counter(cluster_id for ids in expected for cluster_id in ids)
    assert sum(n for cluster_id, n in targets.items() if cluster_id.startswith("seed")) > 100
    new = [n for cluster_id, n in targets.items() if cluster_id.startswith("new")]
    assert len(new) >= 10  # new in the batch ...
    assert sum(new) > 5 * len(new)  # ... then merged into
    assert in_blocks.by_id.keys() == one_by_one.by_id.keys()
    for cluster_id, cluster in one_by_one.by_id.items():
        other = in_blocks.by_id[cluster_id]
        assert (other.size, other.sample, other.absorbed) == (
            cluster.size,
            cluster.sample,
            cluster.absorbed,
        )
        np.testing.assert_allclose(
            in_blocks.stored(cluster_id).vector(), one_by_one.stored(cluster_id).vector(), atol=1e-5
        )


class ReferenceMerge:
    """Both rules as the docs state them, computed from scratch for every centroid in float64:
    the mean of every centroid kept (weighted by size, the result's own included), moved to
    only when it moved by more than 1e-3 of its length; no products kept between merges."""

    def __init__(self, rule: MergeRule, threshold: float = 0.75) -> None:
        self.rule, self.threshold = rule, threshold
        self.rows: dict[str, tuple[np.ndarray, float]] = {}  # id -> (float32 centroid, weight)
        self.centre: np.ndarray | None = None

    def apply(self, result: ChunkResult) -> list[str]:
        given = [(np.asarray(c.centroid, np.float32), max(c.true_size, 1)) for c in result.clusters]
        self._recentre(given)
        return [
            self._merge(incoming.id, x, w)
            for incoming, (x, w) in zip(result.clusters, given, strict=True)
        ]

    def _recentre(self, given: list[tuple[np.ndarray, int]]) -> None:
        if self.rule is not MergeRule.CENTRED or len(self.rows) + len(given) < 3:
            self.centre = None
            return
        every = [*self.rows.values(), *given]
        weights = np.array([w for _, w in every], np.float64)
        mean = weights @ np.vstack([v for v, _ in every]).astype(np.float64) / weights.sum()
        if self.centre is None or np.linalg.norm(mean - self.centre) > 1e-3 * np.linalg.norm(
            self.centre
        ):
            self.centre = mean

    def _merge(self, cluster_id: str, x: np.ndarray, weight: int) -> str:
        centre = np.zeros(len(x)) if self.centre is None else self.centre
        scores = {
            key: float((row - centre) @ (x - centre))
            / float(np.linalg.norm(row - centre) * np.linalg.norm(x - centre))
            for key, (row, _) in self.rows.items()
        }
        best = max(scores, key=scores.__getitem__, default=None)
        if best is None or scores[best] < self.threshold - 1e-6:
            self.rows[cluster_id] = (x, weight)
            return cluster_id
        row, kept = self.rows[best]
        share = weight / (kept + weight)
        self.rows[best] = ((row * (1 - share) + x * share).astype(np.float32), kept + weight)
        return best


@pytest.mark.parametrize("rule", [MergeRule.COSINE, MergeRule.CENTRED])
def test_merges_in_blocks_are_the_rules_computed_from_scratch(rule: MergeRule) -> None:
    merge = MergeSettings(threshold=0.75, rule=rule, own_rule=rule, max_clusters=10_000)
    batch = [
        result
        for result in [
            *themed_batch(1, 20, "seed", themes_used=30),
            *themed_batch(2, 120, "new", themes_used=40),
        ]
        if result.model == "orchestrator/fixture"
    ]
    brand, reference = BrandClusters([], merge), ReferenceMerge(rule)
    checked = [(result, i, brand.check(result)) for i, result in enumerate(batch)]
    expected = [reference.apply(result) for result in batch]
    assert brand.apply_all(checked) == expected
    assert len(set(expected[-1])) > 1  # merges and new clusters alike
    assert brand.by_id.keys() == reference.rows.keys()
    for cluster_id, (row, _) in reference.rows.items():
        np.testing.assert_allclose(brand.stored(cluster_id).vector(), row, atol=1e-5)


def test_a_batch_holds_one_dimension_per_model_before_any_is_applied() -> None:
    brand = BrandClusters([], COSINE)
    coming: dict[str, int] = {}
    brand.check(chunk("c1", ClusterIn(id="a", centroid=[1.0, 0.0]), model="m"), coming)
    with pytest.raises(InvalidResultError, match="dimension 3"):
        brand.check(chunk("c2", ClusterIn(id="b", centroid=[1.0, 0.0, 0.0]), model="m"), coming)


def test_the_centred_rule_mean_is_the_one_of_the_clusters_kept_after_evictions() -> None:
    merge = MergeSettings(rule=MergeRule.CENTRED, own_rule=MergeRule.CENTRED, max_clusters=5)
    rng = np.random.default_rng(3)
    live = BrandClusters([], merge)
    for i in range(12):  # apart (threshold 0.75 in 8 dimensions): every one new, 7 evicted
        vector = rng.normal(size=8).tolist()
        live.apply(chunk(f"c{i}", ClusterIn(id=f"k{i}", size=i + 1, centroid=vector)), i)
        live.evict()
    reloaded = BrandClusters([live.stored(cluster_id) for cluster_id in live.by_id], merge)
    kept, recomputed = live.centre_of("unnamed", 8), reloaded.centre_of("unnamed", 8)
    assert kept is not None
    assert recomputed is not None
    np.testing.assert_allclose(kept, recomputed, rtol=1e-5)


def test_a_cluster_records_the_last_ids_it_absorbed_each_once() -> None:
    brand = brand_with(ClusterIn(id="a", mentions=["m0"], centroid=[1.0, 0.0]))
    ids = [f"c{i}" for i in range(25)] + ["c24", "c2", "a"]  # c2 had dropped out
    for i, cluster_id in enumerate(ids):
        brand.apply(chunk(f"k{i}", ClusterIn(id=cluster_id, centroid=[1.0, 0.0])), i)
    assert brand.stored("a").absorbed == [*(f"c{i}" for i in range(6, 25)), "c2"]
