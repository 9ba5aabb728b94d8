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
from dataclasses import dataclass
from typing import cast

import msgspec
import numpy as np
import numpy.typing as npt

from orchestrator.centroid_merge import (
    HAS_MEAN,
    MEAN_SQUARE,
    WEIGHT,
    Block,
    Rows,
    Rule,
    merge_block,
)
from orchestrator.chunk_result import (
    COMPONENT_LIMIT,
    ChunkResult,
    ClusterIn,
    InvalidResultError,
    Representative,
    within_limit,
)
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


class _Group:
    """The clusters of one (model, dimension): their centroids as rows of one float32 matrix
    (as they are stored), so the similarity to every row is one matrix product.

    Centred cosine needs no centred matrix: (r-m).(x-m) = r.x - r.m - x.m + m.m and
    |r-m|^2 = |r|^2 - 2 r.m + m.m; each row keeps |r|^2, r.m and 1/|r-m|, and the group keeps
    the weighted sum T of its rows, so the mean is T / weight without a pass over the rows.

    ``merge`` compares a block of incoming centroids with every row in one matrix product
    (``dots``; ``gram``: the centroids with each other), then merges them in order in one
    compiled loop (``centroid_merge``), which keeps the products current as rows change: a
    merge makes a row (1-s) r + s x_k, so its products with the centroids still to come become
    (1-s) r.x + s x_k.x, read from ``gram``; a new row's are x_k's row of ``gram``. For the
    centred rule, every r.T and x_k.T are kept the same way, so each result's mean centres
    every row (r.m = r.T / weight) without a pass over the rows' components. A similarity
    within ``_RECHECK`` of the threshold is computed again in float64 before it decides."""

    def __init__(self, dimension: int, rule: Rule) -> None:
        self.dimension = dimension
        self.rule = rule
        self.ids: list[str] = []
        self._index: dict[str, int] = {}
        self.rows = np.zeros((8, dimension), np.float32)
        self.squares = np.zeros(8)  # |r|^2
        self.sizes = np.zeros(8)  # weights: max(size, 1), plus each merged centroid's weight
        self.row_mean = np.zeros(8)  # r.m
        self.inverse = np.zeros(8)  # 1/|r-m|
        self.total = np.zeros(dimension)  # centred rule: sum of weight * row
        self.mean = np.zeros(dimension)  # what similarities are centred on, if HAS_MEAN
        self.state = np.zeros(3)  # WEIGHT, HAS_MEAN, MEAN_SQUARE (centroid_merge)

    def _reserve(self, extra: int) -> None:
        """Room for ``extra`` more rows (doubling: appends stay amortised O(d))."""
        capacity = len(self.sizes)
        while capacity < len(self.ids) + extra:
            capacity *= 2
        for name in ("rows", "squares", "sizes", "row_mean", "inverse"):
            array = getattr(self, name)
            if len(array) < capacity:
                grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
                grown[: len(array)] = array
                setattr(self, name, grown)

    def add_stored(self, cluster_id: str, vector: Vector32, size: int) -> None:
        """Add a stored cluster (outside ``merge``)."""
        self._reserve(1)
        index = len(self.ids)
        self.register(cluster_id)
        weight = self.sizes[index] = max(size, 1)
        self.rows[index] = vector
        row = self.rows[index].astype(np.float64)
        self.squares[index] = square = float(row @ row)
        if self.state[HAS_MEAN]:
            self.row_mean[index] = row_mean = float(row @ self.mean)
            square += self.state[MEAN_SQUARE] - 2 * row_mean
        self.inverse[index] = 1.0 / math.sqrt(max(square, 1e-30))
        if self.rule.centred:
            self.total += weight * row
            self.state[WEIGHT] += weight

    def register(self, cluster_id: str) -> None:
        """Name the next row (made by ``add_stored``, or by ``merge`` for a centroid it did not
        merge: those are named in the order of their slots)."""
        self._index[cluster_id] = len(self.ids)
        self.ids.append(cluster_id)

    def merge(
        self, vectors: list[Vector32], weights: list[int], starts: list[int]
    ) -> tuple[list[int], list[bool]]:
        """Merge ``vectors`` (of weights max(size, 1)) in order, result after result (result i
        has slots starts[i]:starts[i+1]); each one's row, and whether it made that row."""
        used, count = len(self.ids), len(vectors)
        self._reserve(count)
        matrix = np.vstack(vectors)
        dots = np.empty((count, used + count), np.float32)  # past ``used``: made by the loop
        np.matmul(matrix, self.rows[:used].T, out=dots[:, :used])
        to_mean = np.zeros(count)
        if self.state[HAS_MEAN]:
            to_mean[:] = matrix @ self.mean.astype(np.float32)
        projections = to_sum = np.zeros(0)
        if self.rule.centred:
            total = self.total.astype(np.float32)
            projections = np.zeros(used + count)
            projections[:used] = self.rows[:used] @ total
            to_sum = (matrix @ total).astype(np.float64)
        block = Block(
            matrix, np.array(weights, np.float64), matrix @ matrix.T, dots, to_mean,
            projections, to_sum, np.array(starts, np.int64), np.empty(count, np.int64),
            np.zeros(count, np.bool_),
        )  # fmt: skip
        group = Rows(self.rows, self.squares, self.sizes, self.row_mean, self.inverse,
                     self.total, self.mean, self.state)  # fmt: skip
        merge_block(group, block, self.rule, used)
        return cast(list[int], block.targets.tolist()), cast(list[bool], block.created.tolist())

    def row(self, cluster_id: str) -> Vector32:
        row: Vector32 = self.rows[self._index[cluster_id]]
        return row

    def centre(self) -> Vector | None:
        """The weighted mean of the rows (centred rule), None without rows."""
        weight = float(self.state[WEIGHT])
        return self.total / weight if self.rule.centred and weight > 0 else None

    def remove(self, cluster_id: str) -> None:
        """Drop a row (its place is taken by the last)."""
        index = self._index.pop(cluster_id)
        if self.rule.centred:
            weight = self.sizes[index]
            self.total -= weight * self.rows[index]
            self.state[WEIGHT] -= weight
        last = len(self.ids) - 1
        if index != last:
            moved = self.ids[last]
            for array in (self.rows, self.squares, self.sizes, self.row_mean, self.inverse):
                array[index] = array[last]
            self.ids[index] = moved
            self._index[moved] = index
        self.ids.pop()


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
        if not within_limit(matrix):
            valid = (np.abs(matrix) <= COMPONENT_LIMIT).all(axis=1)
            index = present[int(np.argmin(valid))]
            raise InvalidResultError(
                f"centroid components must be finite and within ±{COMPONENT_LIMIT:g}"
                f" - at `$.clusters[{index}].centroidF32`"
            )
        coming.setdefault(result.model, matrix.shape[1])
        nonzero = cast(list[bool], np.logical_or.reduce(matrix, axis=1).tolist())
        for index, row, given in zip(present, matrix, nonzero, strict=True):
            vectors[index] = row if given else None
        return vectors

    def apply_all(self, checked: Sequence[Checked]) -> list[list[str]]:
        """Merge every cluster of each result in turn (with its time and its vectors from
        ``check``); for each, the ids merged into or created. The centroids are merged a block
        at a time (``_Group.merge``), with the outcome of merging them one by one, and the
        brand is brought back to its maximum (``evict``) after each block."""
        merged: list[list[str]] = []
        for block in _blocks(checked):
            merged += self._apply_block(block)
            self.evict()
        return merged

    def apply(
        self, result: ChunkResult, seen_ms: int, vectors: list[Vector32 | None] | None = None
    ) -> list[str]:
        """Merge every cluster of one result (``vectors``: from ``check``); the ids merged into
        or created. The brand may exceed its maximum until ``evict``."""
        if vectors is None:
            vectors = self.check(result)
        return self._apply_block([(result, seen_ms, vectors)])[0]

    def _apply_block(self, block: Sequence[Checked]) -> list[list[str]]:
        """Merge the block's centroids, group by group (``_merge_centroids``), then record each
        cluster's merge in the order of the results."""
        outcomes, slots = self._merge_centroids(block)
        merged: list[list[str]] = []
        for (result, seen_ms, vectors), its_slots in zip(block, slots, strict=True):
            ids: list[str] = []
            for incoming, vector, slot in zip(result.clusters, vectors, its_slots, strict=True):
                if vector is None:  # no centroid: only a cluster of the same id can take it
                    same = self.by_id.get(incoming.id)
                    if same is not None and same.dimension == 0:
                        ids.append(self._absorb(same, incoming, seen_ms))
                    else:
                        ids.append(self._create(incoming, result.model, None, seen_ms))
                    continue
                group = self._groups[(result.model, len(vector))]
                targets, created = outcomes[(result.model, len(vector))]
                assert slot is not None, "a centroid has its slot"
                if created[slot]:
                    ids.append(self._create(incoming, result.model, vector, seen_ms, group))
                else:
                    target = self.by_id[group.ids[targets[slot]]]
                    ids.append(self._absorb(target, incoming, seen_ms))
            merged.append(ids)
        return merged

    def _merge_centroids(
        self, block: Sequence[Checked]
    ) -> tuple[dict[tuple[str, int], tuple[list[int], list[bool]]], list[list[int | None]]]:
        """Merge the block's centroids in every group they reach: for each group, every
        centroid's row and whether it made it; for each result, its centroids' slots."""
        gathered: dict[tuple[str, int], tuple[list[Vector32], list[int], list[int]]] = {}
        slots: list[list[int | None]] = []
        for result, _, vectors in block:
            given = next((v for v in vectors if v is not None), None)
            if given is None:
                slots.append([None] * len(vectors))
                continue
            key = (result.model, len(given))  # one dimension per result (checked)
            found, weights, starts = gathered.setdefault(key, ([], [], [0]))
            its_slots: list[int | None] = []
            for incoming, vector in zip(result.clusters, vectors, strict=True):
                its_slots.append(None if vector is None else len(found))
                if vector is not None:
                    found.append(vector)
                    weights.append(max(incoming.true_size, 1))
            starts.append(len(found))
            slots.append(its_slots)
        outcomes = {
            key: self._group(*key).merge(found, weights, starts)
            for key, (found, weights, starts) in gathered.items()
        }
        return outcomes, slots

    def centre_of(self, model: str, dimension: int) -> Vector | None:
        """The centred rule's mean of the model's centroids: their size-weighted mean (merges
        keep weighted sums, so the mean of all that ever merged and was not evicted)."""
        group = self._groups.get((model, dimension))
        return None if group is None else group.centre()

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
            if cluster.dimension:
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

    def _index(self, cluster: Cluster) -> None:
        self.by_id[cluster.id] = cluster
        if cluster.dimension:
            group = self._group(cluster.model, cluster.dimension)
            group.add_stored(cluster.id, cluster.vector(), cluster.size)

    def _group(self, model: str, dimension: int) -> _Group:
        """The group of (model, dimension), made if new (with the model's rule)."""
        group = self._groups.get((model, dimension))
        if group is None:
            centred = self.settings.rule_for(model) is MergeRule.CENTRED
            rule = Rule(self.settings.threshold, _TOLERANCE, _RECHECK, centred, _MIN_TO_CENTRE,
                        _RECENTRE)  # fmt: skip
            group = self._groups[(model, dimension)] = _Group(dimension, rule)
        return group

    def _create(
        self,
        incoming: ClusterIn,
        model: str,
        vector: Vector32 | None,
        seen_ms: int,
        group: _Group | None = None,
    ) -> str:
        """A new cluster (its row, if it has a centroid, made by ``group.merge``)."""
        cluster_id, suffix = incoming.id, 1
        while cluster_id in self.by_id or cluster_id in self.removed:
            suffix += 1
            cluster_id = f"{incoming.id}~{suffix}"
        self.by_id[cluster_id] = Cluster(
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
        if group is not None:
            group.register(cluster_id)
        self.changed.add(cluster_id)
        return cluster_id

    def _absorb(self, cluster: Cluster, incoming: ClusterIn, seen_ms: int) -> str:
        """Merge an incoming cluster into ``cluster`` (its centroid merged by ``_Group.merge``);
        the cluster's id."""
        old, new = max(cluster.size, 1), max(incoming.true_size, 1)
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
        return cluster.id

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


def _unique(ids: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(ids))[:limit]
