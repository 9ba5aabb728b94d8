"""A brand's clusters, and how an incoming cluster merges into them (pure, no I/O).

An incoming cluster merges into the existing cluster whose centroid is most similar, when that
similarity reaches the threshold; similarities to every centroid of the same embedding model and
dimension come from matrix products: a batch's incoming centroids are compared with the brand's
in blocks, one matrix product per block, and each merge updates the products it changes, so the
outcome is the one of merging the centroids one at a time. Two rules (docs/aggregation.md):

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

import heapq
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import msgspec
import numpy as np
import numpy.typing as npt

from orchestrator.chunk_result import ChunkResult, ClusterIn, InvalidResultError, Representative
from orchestrator.types import MergeRule

Vector = npt.NDArray[np.float64]
Vector32 = npt.NDArray[np.float32]
Checked = tuple[ChunkResult, int, list[Vector32 | None]]  # a result, its time, its centroids

OWN_MODEL_PREFIX = "orchestrator/"  # embedding models of our reference workers
_TOLERANCE = 1e-6  # centroids are stored as float32: "at the threshold" means within this
_RECHECK = 1e-4  # float32 similarities this close to the threshold are computed again
_MAX_ABSORBED = 20
_MAX_REPRESENTATIVES = 3
_HOUR_MS = 3_600_000
_COMPONENT_LIMIT = 1e6  # as for JSON centroids (chunk_result.Component)
_MIN_TO_CENTRE = 3  # centroids needed before the centred rule applies (raw cosine until then)
_RECENTRE = 1e-3  # the centred rule re-centres when the mean moved by this share of its length
_BLOCK_VECTORS = 128  # incoming centroids per block: one matrix product compares them all


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

    def vector(self) -> Vector32:
        return np.frombuffer(self.centroid, dtype="<f4")


encode_cluster = msgspec.msgpack.Encoder().encode
decode_cluster = msgspec.msgpack.Decoder(Cluster).decode


@dataclass
class _Block:
    """The incoming centroids of a block, as rows of ``matrix`` (each named by its row, its
    slot), and what is kept current while they merge one at a time (``_Group``)."""

    matrix: Vector32
    weights: Vector32  # max(size, 1) of each
    gram: Vector32  # matrix @ matrix.T
    squares: list[float]  # |x_k|^2: the diagonal of ``gram``
    dots: Vector32  # row k: x_k's products with every row of the group, current from slot k on
    to_mean: Vector  # x_k.m (the group's mean; zeros when it has none)
    projections: Vector | None = None  # centred rule: every row's r.T
    to_sum: Vector | None = None  # centred rule: x_k.T
    included: int = 0  # T: the group's weighted sum when the block began, plus w_k x_k of
    # the slots before this one (those merged, and those of the result being merged)

    def grow(self) -> None:
        """Double the room for rows (as the group does)."""
        self.dots = np.concatenate([self.dots, np.zeros_like(self.dots)], axis=1)
        if self.projections is not None:
            self.projections = np.concatenate([self.projections, np.zeros_like(self.projections)])

    def include(self, stop: int, rows: int) -> None:
        """Add w_k x_k of the slots up to ``stop`` to T, and so to every product with it."""
        start = self.included
        if self.projections is None or self.to_sum is None or stop <= start:
            return
        weights = self.weights[start:stop]
        self.projections[:rows] += weights @ self.dots[start:stop, :rows]
        self.to_sum += self.gram[:, start:stop] @ weights
        self.included = stop


@dataclass
class _Group:
    """The clusters of one (model, dimension): their centroids as rows of one float32 matrix
    (as they are stored), so the similarity to every row is one matrix product.

    Centred cosine needs no centred matrix: (r-m).(x-m) = r.x - r.m - x.m + m.m and
    |r-m|^2 = |r|^2 - 2 r.m + m.m; ``prepare`` computes every r.m and 1/|r-m| once per result,
    and writes keep them current. A similarity within ``_RECHECK`` of the threshold is computed
    again in float64 before it decides.

    During a block (``begin`` ... ``end``), the block's ``dots`` holds every row's product with
    every centroid of the block (one row of ``dots`` per centroid), so a comparison reads a row
    of it instead of multiplying. A merge makes a row (1-s) r + s x_k, so its products with the
    centroids still to come (the block's later slots; earlier ones are read no more) become
    (1-s) r.x + s x_k.x (from the block's ``gram``); a new row's products are x_k's row of
    ``gram``. For the centred rule, the block's ``projections`` holds every r.T (T: the weighted
    sum of the rows when the block began plus w_k x_k of each centroid merged or about to be,
    ``_Block.include``), kept the same way with x_k.T (``to_sum``), so r.m is r.T / weight
    without a pass over the rows' components, and x_k.m is read from ``to_mean``."""

    dimension: int
    weighted: bool = False  # keep ``total`` and ``weight`` (the centred rule's mean needs them)
    ids: list[str] = field(default_factory=list)
    mean: Vector | None = None  # what similarities are centred on (None: raw cosine)
    _index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = np.zeros((8, self.dimension), np.float32)
        self.squares = np.zeros(8)  # |r|^2
        self.sizes = np.zeros(8)  # weights: max(size, 1)
        self.row_mean = np.zeros(8)  # r.m
        self.inverse = np.zeros(8)  # 1/|r-m|
        self._mean_square = 0.0
        self._mean32 = np.zeros(self.dimension, np.float32)
        self.total = np.zeros(self.dimension)  # sum of weight * row, kept as rows change
        self.weight = 0.0
        self.block: _Block | None = None

    def _arrays(self) -> list[str]:
        """The per-row arrays (grown and moved together)."""
        return ["rows", "squares", "sizes", "row_mean", "inverse"]

    def begin(self, vectors: list[Vector32], weights: list[float]) -> None:
        """Start a block: ``vectors`` (with their weights, max(size, 1)) will be compared and
        merged in this order, each named by its position (its slot)."""
        matrix = np.vstack(vectors)
        n, capacity = len(self.ids), len(self.rows)
        dots = np.empty((len(vectors), capacity), np.float32)  # past n: on add
        np.matmul(matrix, self.rows[:n].T, out=dots[:, :n])  # a centroid's products: one row
        gram = matrix @ matrix.T
        to_mean = np.zeros(len(vectors))
        if self.mean is not None:
            to_mean[:] = matrix @ self._mean32
        block = _Block(matrix, np.array(weights, np.float32), gram, gram.diagonal().tolist(),
                       dots, to_mean)  # fmt: skip
        if self.weighted:
            total = self.total.astype(np.float32)
            block.projections = np.zeros(capacity)
            block.projections[:n] = self.rows[:n] @ total
            block.to_sum = (matrix @ total).astype(np.float64)
        self.block = block

    def end(self) -> None:
        self.block = None

    def add(self, cluster_id: str, vector: Vector32, size: float, slot: int | None = None) -> None:
        n = len(self.ids)
        if n == len(self.sizes):  # grow by doubling: appends stay amortised O(d)
            for name in self._arrays():
                array = getattr(self, name)
                setattr(self, name, np.concatenate([array, np.zeros_like(array)]))
            if self.block is not None:
                self.block.grow()
        self.ids.append(cluster_id)
        self._index[cluster_id] = n
        weight = self.sizes[n] = max(size, 1.0)
        self.rows[n] = vector
        if self.weighted:
            self.total += weight * self.rows[n]
            self.weight += weight
        block = self.block
        if block is not None:
            assert slot is not None, "a centroid added during a block has its slot"
            block.dots[slot + 1 :, n] = block.gram[slot, slot + 1 :]  # products to come
            if block.projections is not None and block.to_sum is not None:
                block.projections[n] = block.to_sum[slot]
        self._settle(n)

    def row(self, cluster_id: str) -> Vector32:
        row: Vector32 = self.rows[self._index[cluster_id]]
        return row

    def blend(
        self, cluster_id: str, vector: Vector32, share: float, size: float, slot: int | None
    ) -> None:
        """Make the row (1 - share) * row + share * vector, of weight ``size``."""
        index = self._index[cluster_id]
        if self.weighted:  # the weighted sum gains the vector's weight times it (exactly so
            added = size * share  # in real numbers; the rows are float32 roundings of theirs)
            self.total += added * vector
            self.weight += added
        self.sizes[index] = max(size, 1.0)
        row = self.rows[index]
        row *= np.float32(1.0 - share)
        row += vector * np.float32(share)
        block = self.block
        if block is not None and slot is not None:
            keep, take = 1.0 - share, share
            column = block.dots[slot + 1 :, index]  # the products with the centroids to come
            column *= keep
            column += block.gram[slot, slot + 1 :] * take
            if block.projections is not None and block.to_sum is not None:
                projection = keep * float(block.projections[index]) + take * block.to_sum[slot]
                block.projections[index] = projection
        self._settle(index)

    def _settle(self, index: int) -> None:
        """Bring a row's norms up to date once its centroid changed."""
        row = self.rows[index]
        square = self.squares[index] = float(row @ row)
        if self.mean is not None:
            row_mean = self.row_mean[index] = float(row @ self._mean32)
            square = square - 2 * row_mean + self._mean_square
        self.inverse[index] = 1.0 / math.sqrt(max(square, 1e-30))

    def _account(self, index: int, sign: float) -> None:
        weight = sign * self.sizes[index]
        if weight and self.weighted:
            self.total += weight * self.rows[index]
            self.weight += weight

    def remove(self, cluster_id: str) -> None:
        """Drop a row (never during a block)."""
        index = self._index.pop(cluster_id)
        self._account(index, -1.0)
        last = len(self.ids) - 1
        if index != last:
            moved = self.ids[last]
            for name in self._arrays():
                array = getattr(self, name)
                array[index] = array[last]
            self.ids[index] = moved
            self._index[moved] = index
        self.ids.pop()

    def prepare(self, mean: Vector | None, coming: slice | None = None) -> None:
        """Centre the following similarities on ``mean`` (None: raw cosine). A mean that
        moved less than ``_RECENTRE`` of its length since the last centring is not worth a
        pass over every row: the group stays centred where it was. ``coming``: the slots of
        the result's centroids in the block, which the mean includes."""
        n, block = len(self.ids), self.block
        if block is not None and coming is not None:
            block.include(coming.stop, n)
        if mean is None and self.mean is None:
            return
        if mean is not None and self.mean is not None:
            moved = float(np.linalg.norm(mean - self.mean))
            if moved <= _RECENTRE * math.sqrt(self._mean_square):
                return
        self.mean = mean
        squares = self.squares[:n]
        if mean is not None:
            self._mean_square = float(mean @ mean)
            self._mean32 = mean.astype(np.float32)  # float32 products: no float64 matrix copy
            if block is not None and block.projections is not None and coming:
                weight = self.weight + float(block.weights[coming].sum())
                self.row_mean[:n] = block.projections[:n] / weight
            else:
                self.row_mean[:n] = self.rows[:n] @ self._mean32
            squares = squares - 2 * self.row_mean[:n] + self._mean_square
        if block is not None:
            block.to_mean[:] = block.matrix @ self._mean32 if mean is not None else 0.0
        self.inverse[:n] = 1.0 / np.sqrt(np.maximum(squares, 1e-30))

    def most_similar(
        self, vector: Vector32, threshold: float, slot: int | None = None
    ) -> tuple[str, float] | None:
        """The most similar cluster and its similarity, or None when the group is empty."""
        n = len(self.ids)
        if n == 0:
            return None
        block = self.block
        if slot is not None and block is not None:
            dots, square = block.dots[slot, :n], block.squares[slot]
        else:
            dots, square = self.rows[:n] @ vector, float(vector @ vector)
        if self.mean is None:
            scores = dots * self.inverse[:n]
        else:
            vector_mean = float(
                block.to_mean[slot]
                if slot is not None and block is not None
                else vector @ self._mean32
            )
            scores = (dots + (self._mean_square - vector_mean) - self.row_mean[:n]) * self.inverse[
                :n
            ]
            square += self._mean_square - 2 * vector_mean
        best = int(scores.argmax())
        similarity = float(scores[best]) / math.sqrt(max(square, 1e-30))
        if abs(similarity - threshold) < _RECHECK:
            similarity = self._exact(best, vector)
        return self.ids[best], similarity

    def _exact(self, index: int, vector: Vector32) -> float:
        row, target = self.rows[index].astype(np.float64), vector.astype(np.float64)
        if self.mean is not None:
            row, target = row - self.mean, target - self.mean
        lengths = math.sqrt(float(row @ row) * float(target @ target))
        return float(row @ target) / lengths if lengths > 0 else -1.0


class BrandClusters:
    """A brand's clusters in memory, with what changed since they were loaded."""

    def __init__(self, clusters: Iterable[Cluster], settings: MergeSettings) -> None:
        self.settings = settings
        self.by_id: dict[str, Cluster] = {}
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self._groups: dict[tuple[str, int], _Group] = {}
        self._absorbed: dict[str, set[str]] = {}  # cluster id -> its ``absorbed``, as a set
        for cluster in clusters:
            self._index(cluster)

    def __len__(self) -> int:
        return len(self.by_id)

    def dimension_of(self, model: str) -> int | None:
        for (group_model, dimension), group in self._groups.items():
            if group_model == model and dimension and group.ids:
                return dimension
        return None

    def check(
        self, result: ChunkResult, coming: dict[str, int] | None = None
    ) -> list[Vector32 | None]:
        """The result's centroids as float32 vectors (None where a cluster has none, or a zero
        one), read as one matrix; refuses a dimension other than the brand's for the model,
        and float32 centroids that are not finite or out of range. ``coming``: the dimension
        of each model in the results checked before this one and not yet applied (updated)."""
        coming = {} if coming is None else coming
        known = self.dimension_of(result.model) or coming.get(result.model)
        present: list[int] = []
        parts: list[bytes] = []
        for index, incoming in enumerate(result.clusters):
            raw = _centroid_bytes(incoming)
            if raw is None:
                continue
            given = len(raw) // 4
            if known and given != known:
                raise InvalidResultError(
                    f"centroid of dimension {given}, the brand's clusters of"
                    f" model {result.model!r} have {known} - at `$.clusters[{index}].centroid`"
                )
            present.append(index)
            parts.append(raw)
        vectors: list[Vector32 | None] = [None] * len(result.clusters)
        if not present:
            return vectors
        matrix = np.frombuffer(b"".join(parts), dtype="<f4").reshape(len(present), -1)
        if not _within_limit(matrix):
            valid = (np.abs(matrix) <= _COMPONENT_LIMIT).all(axis=1)
            index = present[int(np.argmin(valid))]
            raise InvalidResultError(
                f"centroid components must be finite and within ±{_COMPONENT_LIMIT:g}"
                f" - at `$.clusters[{index}].centroidF32`"
            )
        coming.setdefault(result.model, matrix.shape[1])
        nonzero = cast(list[bool], np.logical_or.reduce(matrix, axis=1).tolist())
        for index, row, given in zip(present, matrix, nonzero, strict=True):
            vectors[index] = row if given else None
        return vectors

    def apply_all(self, checked: Sequence[Checked]) -> list[list[str]]:
        """Merge every cluster of each result in turn (with its time and its vectors from
        ``check``); for each, the ids merged into or created. The centroids are compared a
        block at a time (``_Group.begin``), with the outcome of merging them one by one, and
        the brand is brought back to its maximum (``evict``) after each block."""
        merged: list[list[str]] = []
        for block in _blocks(checked):
            slots = self._begin(block)
            try:
                for (result, seen_ms, vectors), its_slots in zip(block, slots, strict=True):
                    merged.append(self.apply(result, seen_ms, vectors, its_slots))
            finally:
                for group in self._groups.values():
                    group.end()
            self.evict()
        return merged

    def _begin(self, block: Sequence[Checked]) -> list[list[int | None]]:
        """Start a block in every group it reaches; each centroid's slot in its group."""
        gathered: dict[tuple[str, int], tuple[list[Vector32], list[float]]] = {}
        slots: list[list[int | None]] = []
        for result, _, vectors in block:
            given = next((v for v in vectors if v is not None), None)
            if given is None:
                slots.append([None] * len(vectors))
                continue
            key = (result.model, len(given))  # one dimension per result (checked)
            found, weights = gathered.setdefault(key, ([], []))
            its_slots: list[int | None] = []
            for incoming, vector in zip(result.clusters, vectors, strict=True):
                its_slots.append(None if vector is None else len(found))
                if vector is not None:
                    found.append(vector)
                    weights.append(max(incoming.true_size, 1))
            slots.append(its_slots)
        for (model, dimension), (found, weights) in gathered.items():
            self._group(model, dimension).begin(found, weights)
        return slots

    def apply(
        self,
        result: ChunkResult,
        seen_ms: int,
        vectors: list[Vector32 | None] | None = None,
        slots: list[int | None] | None = None,
    ) -> list[str]:
        """Merge every cluster of one result (``vectors``: from ``check``; ``slots``: their
        places in the current block); the ids merged into or created. The brand may exceed its
        maximum until ``evict``."""
        if vectors is None:
            vectors = self.check(result)
        if slots is None:
            slots = [None] * len(vectors)
        given = next((v for v in vectors if v is not None), None)
        taken = [slot for slot in slots if slot is not None]
        coming = slice(taken[0], taken[-1] + 1) if taken else None
        group = None if given is None else self._group(result.model, len(given))
        if group is not None:  # the group exists before the first merge, centred if need be
            sizes = [max(incoming.true_size, 1) for incoming in result.clusters]
            group.prepare(self._mean(result.model, vectors, sizes, coming), coming)
        return [
            self.merge(incoming, vector, result.model, seen_ms, slot)
            for incoming, vector, slot in zip(result.clusters, vectors, slots, strict=True)
        ]

    def merge(
        self,
        incoming: ClusterIn,
        vector: Vector32 | None,
        model: str,
        seen_ms: int,
        slot: int | None = None,
    ) -> str:
        """Merge one cluster into the most similar of its group (as the group is prepared), or
        add it; the id it merged into or was given."""
        dimension = 0 if vector is None else len(vector)
        group = self._groups.get((model, dimension))
        target: str | None = None
        if vector is None:  # no centroid: only a cluster of the same id can take it
            same = self.by_id.get(incoming.id)
            target = same.id if same is not None and same.dimension == 0 else None
        elif group is not None:
            found = group.most_similar(vector, self.settings.threshold, slot)
            if found is not None and found[1] >= self.settings.threshold - _TOLERANCE:
                target = found[0]
        if target is None:
            return self._create(incoming, model, vector, seen_ms, slot)
        self._absorb(self.by_id[target], incoming, vector, seen_ms, slot)
        return target

    def _mean(
        self,
        model: str,
        vectors: list[Vector32 | None],
        sizes: list[int],
        coming: slice | None = None,
    ) -> Vector | None:
        """For the centred rule: the size-weighted mean of every centroid of the model, the
        brand's and the result's (merges keep weighted sums, so this is the mean of all that
        ever merged). None for the cosine rule, or with too few centroids to centre on.
        ``coming``: where the result's centroids stand in the group's block, if in one."""
        given = [(v, n) for v, n in zip(vectors, sizes, strict=True) if v is not None]
        if self.settings.rule_for(model) is not MergeRule.CENTRED or not given:
            return None
        dimension = len(given[0][0])
        group = self._groups.get((model, dimension))
        total, weight = (group.total, group.weight) if group else (np.zeros(dimension), 0.0)
        count = len(given) + (len(group.ids) if group else 0)
        if count < _MIN_TO_CENTRE:
            return None
        if group is not None and group.block is not None and coming is not None:
            weights, matrix = group.block.weights[coming], group.block.matrix[coming]
        else:
            weights = np.array([size for _, size in given], np.float32)
            matrix = np.vstack([v for v, _ in given])
        mean: Vector = (total + weights.astype(np.float64) @ matrix) / (
            weight + float(weights.sum())
        )
        return mean

    def evict(self) -> list[str]:
        """Drop the least recently seen, smallest clusters beyond the brand's maximum."""
        excess = len(self.by_id) - self.settings.max_clusters
        if excess <= 0:
            return []
        clusters = list(self.by_id.values())
        keys = [(cluster.last_seen // _HOUR_MS, cluster.size) for cluster in clusters]
        order = heapq.nsmallest(excess, range(len(clusters)), key=keys.__getitem__)
        dropped = [clusters[position].id for position in order]
        for cluster_id in dropped:
            cluster = self.by_id.pop(cluster_id)
            self._groups[(cluster.model, cluster.dimension)].remove(cluster_id)
            self.changed.discard(cluster_id)
            self.removed.add(cluster_id)
            self._absorbed.pop(cluster_id, None)
        return dropped

    def stored(self, cluster_id: str) -> Cluster:
        """The cluster as it is stored, its centroid (kept in the group while merging) included."""
        cluster = self.by_id[cluster_id]
        if cluster.dimension:
            group = self._groups[(cluster.model, cluster.dimension)]
            cluster.centroid = group.row(cluster_id).astype("<f4").tobytes()
        return cluster

    def _index(self, cluster: Cluster, slot: int | None = None) -> None:
        self.by_id[cluster.id] = cluster
        group = self._group(cluster.model, cluster.dimension)
        group.add(cluster.id, cluster.vector(), cluster.size, slot)

    def _group(self, model: str, dimension: int) -> _Group:
        """The group of (model, dimension), made if new (centred if its rule is)."""
        group = self._groups.get((model, dimension))
        if group is None:
            weighted = self.settings.rule_for(model) is MergeRule.CENTRED
            group = self._groups[(model, dimension)] = _Group(dimension, weighted=weighted)
        return group

    def _create(
        self,
        incoming: ClusterIn,
        model: str,
        vector: Vector32 | None,
        seen_ms: int,
        slot: int | None = None,
    ) -> str:
        cluster_id, suffix = incoming.id, 1
        while cluster_id in self.by_id or cluster_id in self.removed:
            suffix += 1
            cluster_id = f"{incoming.id}~{suffix}"
        cluster = Cluster(
            id=cluster_id,
            label=incoming.label,
            model=model,
            centroid=b"" if vector is None else vector.tobytes(),  # "<f4", as ``check`` reads
            size=incoming.true_size,
            sample=_unique(incoming.mentions, self.settings.sample_size),
            sentiment=incoming.sentiment_score,
            first_seen=seen_ms,
            last_seen=seen_ms,
            spike=incoming.spike,
            representatives=list(incoming.representatives[:_MAX_REPRESENTATIVES]),
        )
        self._index(cluster, slot)
        self.changed.add(cluster_id)
        return cluster_id

    def _absorb(
        self,
        cluster: Cluster,
        incoming: ClusterIn,
        vector: Vector32 | None,
        seen_ms: int,
        slot: int | None = None,
    ) -> None:
        old, new = max(cluster.size, 1), max(incoming.true_size, 1)
        if vector is not None:
            group = self._groups[(cluster.model, cluster.dimension)]
            group.blend(cluster.id, vector, new / (old + new), old + new, slot)
        cluster.sentiment = (cluster.sentiment * old + incoming.sentiment_score * new) / (old + new)
        cluster.size += incoming.true_size
        if len(cluster.sample) < self.settings.sample_size:  # the sample keeps the first ids
            cluster.sample = _unique(
                [*cluster.sample, *incoming.mentions], self.settings.sample_size
            )
        cluster.first_seen = min(cluster.first_seen, seen_ms)
        cluster.last_seen = max(cluster.last_seen, seen_ms)
        cluster.spike = cluster.spike or incoming.spike
        cluster.chunks += 1
        cluster.label = cluster.label or incoming.label
        if incoming.id != cluster.id:
            self._note_absorbed(cluster, incoming.id)
        if incoming.representatives and len(cluster.representatives) < _MAX_REPRESENTATIVES:
            known = {rep.id for rep in cluster.representatives}
            extra = [rep for rep in incoming.representatives if rep.id not in known]
            cluster.representatives = [*cluster.representatives, *extra][:_MAX_REPRESENTATIVES]
        self.changed.add(cluster.id)

    def _note_absorbed(self, cluster: Cluster, absorbed_id: str) -> None:
        """Record an id the cluster absorbed (the last ``_MAX_ABSORBED``, each once)."""
        known = self._absorbed.get(cluster.id)
        if known is None:  # a set beside the list: no string comparison per id recorded
            known = self._absorbed[cluster.id] = set(cluster.absorbed)
        if absorbed_id in known:
            return
        absorbed = cluster.absorbed  # in place: a copy would touch every id (reference counts)
        absorbed.append(absorbed_id)
        known.add(absorbed_id)
        while len(absorbed) > _MAX_ABSORBED:
            known.discard(absorbed.pop(0))


def _blocks(checked: Sequence[Checked]) -> Iterator[Sequence[Checked]]:
    """Whole results, about ``_BLOCK_VECTORS`` centroids a block."""
    start = count = 0
    for end, (_, _, vectors) in enumerate(checked, 1):
        count += sum(vector is not None for vector in vectors)
        if count >= _BLOCK_VECTORS:
            yield checked[start:end]
            start, count = end, 0
    if start < len(checked):
        yield checked[start:]


def _centroid_bytes(incoming: ClusterIn) -> bytes | None:
    """A cluster's centroid as little-endian float32 bytes (JSON numbers converted), if any."""
    if incoming.centroid is None:
        return incoming.centroid_f32
    return np.fromiter(incoming.centroid, "<f4", len(incoming.centroid)).tobytes()


def _within_limit(matrix: Vector32) -> bool:
    """Every component finite and within ``_COMPONENT_LIMIT`` (NaN compares False)."""
    return bool(
        np.maximum.reduce(matrix, axis=None) <= _COMPONENT_LIMIT
        and np.minimum.reduce(matrix, axis=None) >= -_COMPONENT_LIMIT
    )


def _unique(ids: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(ids))[:limit]
