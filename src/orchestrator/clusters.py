"""A brand's clusters, and how an incoming cluster merges into them (pure, no I/O).

An incoming cluster merges into the existing cluster whose centroid is most similar, when that
similarity reaches the threshold; similarities to every centroid of the same embedding model and
dimension are computed at once as one matrix-vector product. Two rules (docs/aggregation.md):

- ``cosine``: raw cosine similarity, the original platform's rule, the default for centroids
  from external workers;
- ``centred``: cosine after subtracting the brand's mean centroid. Sentence embeddings share a
  large common component, so unrelated texts often have a raw cosine of 0.7-0.8; centring
  removes it. The default for our own embedding models.

A merged cluster keeps its id, records the ids it absorbed, and holds the size-weighted mean
centroid and sentiment, a bounded sample of mention ids with the true count, first and last
seen, and the spike flag OR-ed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import numpy as np
import numpy.typing as npt

from orchestrator.chunk_result import ChunkResult, ClusterIn, InvalidResultError, Representative
from orchestrator.types import MergeRule

Vector = npt.NDArray[np.float64]

OWN_MODEL_PREFIX = "orchestrator/"  # embedding models of our reference workers
_TOLERANCE = 1e-6  # centroids are stored as float32: "at the threshold" means within this
_MAX_ABSORBED = 20
_MAX_REPRESENTATIVES = 3
_HOUR_MS = 3_600_000
_MIN_TO_CENTRE = 3  # centroids needed before the centred rule applies (raw cosine until then)


@dataclass(frozen=True)
class MergeSettings:
    threshold: float = 0.75
    max_clusters: int = 500
    sample_size: int = 50  # mention ids kept per cluster; the true count is tracked apart
    rule: MergeRule = MergeRule.COSINE  # for centroids of external workers' models
    own_rule: MergeRule = MergeRule.CENTRED  # for models named ``orchestrator/...``

    def rule_for(self, model: str) -> MergeRule:
        return self.own_rule if model.startswith(OWN_MODEL_PREFIX) else self.rule


class Cluster(msgspec.Struct, kw_only=True):
    """One cluster of a brand, as stored (msgpack) and as served."""

    id: str
    label: str
    model: str
    centroid: bytes = b""  # float32, the size-weighted mean of what merged; empty: none given
    size: int
    sample: list[str]
    sentiment: float  # size-weighted mean of the merged clusters' sentiment scores
    first_seen: int  # ms since the epoch
    last_seen: int
    spike: bool
    absorbed: list[str] = []
    representatives: list[Representative] = []
    chunks: int = 1

    @property
    def dimension(self) -> int:
        return len(self.centroid) // 4

    def vector(self) -> Vector:
        return np.frombuffer(self.centroid, dtype=np.float32).astype(np.float64)


encode_cluster = msgspec.msgpack.Encoder().encode
decode_cluster = msgspec.msgpack.Decoder(Cluster).decode


@dataclass
class _Group:
    """The clusters of one (model, dimension): their centroids as rows of one matrix."""

    dimension: int
    ids: list[str] = field(default_factory=list)
    rows: Vector = field(default_factory=lambda: np.zeros((0, 0)))
    sizes: Vector = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.rows = np.zeros((8, self.dimension))
        self.sizes = np.zeros(8)

    def add(self, cluster_id: str, vector: Vector, size: float) -> None:
        n = len(self.ids)
        if n == len(self.sizes):  # grow by doubling: appends stay amortised O(d)
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.sizes = np.concatenate([self.sizes, np.zeros_like(self.sizes)])
        self.rows[n] = vector
        self.sizes[n] = size
        self.ids.append(cluster_id)

    def update(self, cluster_id: str, vector: Vector, size: float) -> None:
        index = self.ids.index(cluster_id)
        self.rows[index] = vector
        self.sizes[index] = size

    def remove(self, cluster_id: str) -> None:
        index = self.ids.index(cluster_id)
        last = len(self.ids) - 1
        self.rows[index] = self.rows[last]
        self.sizes[index] = self.sizes[last]
        self.ids[index] = self.ids[last]
        self.ids.pop()

    def weighted_sum(self) -> tuple[Vector, float]:
        n = len(self.ids)
        weights = np.maximum(self.sizes[:n], 1.0)
        return weights @ self.rows[:n], float(weights.sum())

    def most_similar(self, vector: Vector, mean: Vector | None) -> tuple[str, float] | None:
        """The most similar cluster and its similarity (cosine, after subtracting ``mean``
        from both sides when given), or None when the group is empty."""
        n = len(self.ids)
        if n == 0:
            return None
        rows, target = self.rows[:n], vector
        if mean is not None:
            rows, target = rows - mean, target - mean
        norms = np.linalg.norm(rows, axis=1)
        norm = float(np.linalg.norm(target))
        if norm == 0.0:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            similarities = np.where(norms > 0, rows @ target / (norms * norm), -1.0)
        best = int(np.argmax(similarities))
        return self.ids[best], float(similarities[best])


class BrandClusters:
    """A brand's clusters in memory, with what changed since they were loaded."""

    def __init__(self, clusters: Iterable[Cluster], settings: MergeSettings) -> None:
        self.settings = settings
        self.by_id: dict[str, Cluster] = {}
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self._groups: dict[tuple[str, int], _Group] = {}
        for cluster in clusters:
            self._index(cluster)

    def __len__(self) -> int:
        return len(self.by_id)

    def dimension_of(self, model: str) -> int | None:
        for group_model, dimension in self._groups:
            if group_model == model and dimension:
                return dimension
        return None

    def check(self, result: ChunkResult) -> None:
        """Refuse centroids whose dimension differs from the brand's for the same model."""
        known = self.dimension_of(result.model)
        for index, incoming in enumerate(result.clusters):
            if incoming.centroid is not None and known and len(incoming.centroid) != known:
                raise InvalidResultError(
                    f"centroid of dimension {len(incoming.centroid)}, the brand's clusters of"
                    f" model {result.model!r} have {known} - at `$.clusters[{index}].centroid`"
                )

    def apply(self, result: ChunkResult, seen_ms: int) -> list[str]:
        """Merge every cluster of one (checked) result; the ids merged into or created."""
        vectors = [_vector(incoming.centroid) for incoming in result.clusters]
        sizes = [max(incoming.true_size, 1) for incoming in result.clusters]
        mean = self._mean(result.model, vectors, sizes)
        touched = [
            self.merge(incoming, vector, result.model, seen_ms, mean)
            for incoming, vector in zip(result.clusters, vectors, strict=True)
        ]
        self.evict()
        return touched

    def merge(
        self,
        incoming: ClusterIn,
        vector: Vector | None,
        model: str,
        seen_ms: int,
        mean: Vector | None = None,
    ) -> str:
        """Merge one cluster into the most similar (similarity after subtracting ``mean``, when
        given), or add it; the id it merged into or was given."""
        dimension = 0 if vector is None else len(vector)
        group = self._groups.get((model, dimension))
        target: str | None = None
        if vector is None:  # no centroid: only a cluster of the same id can take it
            same = self.by_id.get(incoming.id)
            target = same.id if same is not None and same.dimension == 0 else None
        elif group is not None:
            found = group.most_similar(vector, mean)
            if found is not None and found[1] >= self.settings.threshold - _TOLERANCE:
                target = found[0]
        if target is None:
            return self._create(incoming, model, vector, seen_ms)
        self._absorb(self.by_id[target], incoming, vector, seen_ms)
        return target

    def _mean(self, model: str, vectors: list[Vector | None], sizes: list[int]) -> Vector | None:
        """For the centred rule: the size-weighted mean of every centroid of the model, the
        brand's and the result's (merges keep weighted sums, so this is the mean of all that
        ever merged). None for the cosine rule, or with too few centroids to centre on."""
        given = [(v, n) for v, n in zip(vectors, sizes, strict=True) if v is not None]
        if self.settings.rule_for(model) is not MergeRule.CENTRED or not given:
            return None
        dimension = len(given[0][0])
        group = self._groups.get((model, dimension))
        total, weight = group.weighted_sum() if group else (np.zeros(dimension), 0.0)
        count = len(given) + (len(group.ids) if group else 0)
        if count < _MIN_TO_CENTRE:
            return None
        for vector, size in given:
            total = total + vector * size
            weight += size
        mean: Vector = total / weight
        return mean

    def evict(self) -> list[str]:
        """Drop the least recently seen, smallest clusters beyond the brand's maximum."""
        excess = len(self.by_id) - self.settings.max_clusters
        if excess <= 0:
            return []
        victims = sorted(self.by_id.values(), key=lambda c: (c.last_seen // _HOUR_MS, c.size))
        dropped = [cluster.id for cluster in victims[:excess]]
        for cluster_id in dropped:
            cluster = self.by_id.pop(cluster_id)
            self._groups[(cluster.model, cluster.dimension)].remove(cluster_id)
            self.changed.discard(cluster_id)
            self.removed.add(cluster_id)
        return dropped

    def top(self, limit: int, since_ms: int = 0) -> list[Cluster]:
        """The largest clusters seen since ``since_ms``, largest first."""
        recent = (c for c in self.by_id.values() if c.last_seen >= since_ms)
        return sorted(recent, key=lambda c: (-c.size, c.id))[:limit]

    def _index(self, cluster: Cluster) -> None:
        self.by_id[cluster.id] = cluster
        key = (cluster.model, cluster.dimension)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(cluster.dimension)
        group.add(cluster.id, cluster.vector(), cluster.size)

    def _create(self, incoming: ClusterIn, model: str, vector: Vector | None, seen_ms: int) -> str:
        cluster_id, suffix = incoming.id, 1
        while cluster_id in self.by_id or cluster_id in self.removed:
            suffix += 1
            cluster_id = f"{incoming.id}~{suffix}"
        cluster = Cluster(
            id=cluster_id,
            label=incoming.label,
            model=model,
            centroid=b"" if vector is None else vector.astype(np.float32).tobytes(),
            size=incoming.true_size,
            sample=_unique(incoming.mentions, self.settings.sample_size),
            sentiment=incoming.sentiment_score,
            first_seen=seen_ms,
            last_seen=seen_ms,
            spike=incoming.spike,
            representatives=list(incoming.representatives[:_MAX_REPRESENTATIVES]),
        )
        self._index(cluster)
        self.changed.add(cluster_id)
        return cluster_id

    def _absorb(
        self, cluster: Cluster, incoming: ClusterIn, vector: Vector | None, seen_ms: int
    ) -> None:
        old, new = max(cluster.size, 1), max(incoming.true_size, 1)
        if vector is not None:
            mean = (cluster.vector() * old + vector * new) / (old + new)
            cluster.centroid = mean.astype(np.float32).tobytes()
        cluster.sentiment = (cluster.sentiment * old + incoming.sentiment_score * new) / (old + new)
        cluster.size += incoming.true_size
        cluster.sample = _unique([*cluster.sample, *incoming.mentions], self.settings.sample_size)
        cluster.first_seen = min(cluster.first_seen, seen_ms)
        cluster.last_seen = max(cluster.last_seen, seen_ms)
        cluster.spike = cluster.spike or incoming.spike
        cluster.chunks += 1
        cluster.label = cluster.label or incoming.label
        if incoming.id != cluster.id and incoming.id not in cluster.absorbed:
            cluster.absorbed = [*cluster.absorbed, incoming.id][-_MAX_ABSORBED:]
        if len(cluster.representatives) < _MAX_REPRESENTATIVES:
            known = {rep.id for rep in cluster.representatives}
            extra = [rep for rep in incoming.representatives if rep.id not in known]
            cluster.representatives = [*cluster.representatives, *extra][:_MAX_REPRESENTATIVES]
        self._groups[(cluster.model, cluster.dimension)].update(
            cluster.id, cluster.vector(), cluster.size
        )
        self.changed.add(cluster.id)


def _vector(centroid: list[float] | None) -> Vector | None:
    if centroid is None:
        return None
    vector = np.asarray(centroid, dtype=np.float64)
    return vector if float(np.linalg.norm(vector)) > 0.0 else None


def _unique(ids: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(ids))[:limit]
