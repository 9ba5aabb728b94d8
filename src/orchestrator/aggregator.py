"""Apply chunk results to brands' aggregates in Redis: exactly once, from any replica.

Per brand and batch, one Lua script checks the processed-markers and writes the markers, the
counts, the time buckets and the changed clusters together; a duplicate makes the script refuse
the batch, which is re-planned without it. Cluster merges need the brand's clusters in memory
(to compare centroids), so they are serialized across replicas without a lock: the script also
checks the brand's cluster version, and a replica whose copy is stale reloads it and re-plans.
A batch with no clusters skips that check: counts add up in any order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from threadpoolctl import threadpool_limits

from orchestrator import centroid_merge
from orchestrator.aggregate import RETENTION_MS, Delta, seen_ms
from orchestrator.chunk_result import ChunkResult, InvalidResultError
from orchestrator.clusters import (
    BrandClusters,
    Checked,
    MergeSettings,
    decode_cluster,
    encode_cluster,
)
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.store.durability import Durability
from orchestrator.store.scripts import load_script
from orchestrator.types import ScriptArg, text

log = structlog.get_logger(__name__)

_MAX_ROUNDS = 50  # re-plans of one batch (duplicates found, or another replica merged first)
_RETENTION_ARG = json.dumps(RETENTION_MS)


@dataclass
class Outcome:
    """What became of a batch: results applied, duplicates skipped, results refused."""

    applied: list[ChunkResult] = field(default_factory=list)
    duplicates: list[ChunkResult] = field(default_factory=list)
    invalid: list[tuple[ChunkResult, str]] = field(default_factory=list)


@dataclass
class _Cached:
    version: str
    clusters: BrandClusters


@dataclass
class _Plan:
    results: list[ChunkResult]
    delta: Delta
    expected_version: str
    cluster_args: list[ScriptArg]
    removed: list[str]


@dataclass(frozen=True)
class AggregationSettings:
    merge: MergeSettings = field(default_factory=MergeSettings)
    dedup_window_s: float = 7 * 86_400  # how long a chunk id is remembered as applied
    cache_brands: int = 128  # brands whose clusters stay in memory


class Aggregator:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        settings: AggregationSettings,
        durability: Durability | None = None,  # confirms applied results before their ack
    ) -> None:
        self.redis = redis
        self.durability = durability or Durability(redis)
        self.keys = keys
        self.metrics = metrics
        self.merge = settings.merge
        self.dedup_window_ms = int(settings.dedup_window_s * 1000)
        self.cache_brands = settings.cache_brands
        self._cache: OrderedDict[str, _Cached] = OrderedDict()  # brand → clusters, LRU
        self._lock = asyncio.Lock()
        # The products are small (5 x 384 by 500 x 384): BLAS threads only fight the event
        # loop and the store for the cores, and spin when the process is pinned to one.
        threadpool_limits(limits=1, user_api="blas")
        self._apply = load_script(redis, "aggregate_apply")
        self._load = load_script(redis, "clusters_load")

    async def apply(self, results: Sequence[ChunkResult]) -> Outcome:
        """Apply results of any brands; each applied exactly once however often it arrives."""
        async with self._lock:  # one batch at a time: plans change the shared cluster copies
            return await self._apply_batch(results)

    async def _apply_batch(self, results: Sequence[ChunkResult]) -> Outcome:
        outcome = Outcome()
        pending: dict[str, list[ChunkResult]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for result in results:
            key = (result.brand, result.chunk_id)
            if key in seen:
                outcome.duplicates.append(result)
            else:
                seen.add(key)
                pending[result.brand].append(result)
        for _ in range(_MAX_ROUNDS):
            if not pending:
                break
            pending = await self._round(pending, outcome)
        else:
            log.warning("aggregate.contended", brands=sorted(pending))  # redelivered later
            raise RuntimeError(f"aggregate: gave up re-planning {len(pending)} brands")
        self.metrics.results_applied.inc(len(outcome.applied))
        self.metrics.chunks_merged.inc(len(outcome.applied))
        self.metrics.results_duplicate.inc(len(outcome.duplicates))
        self.metrics.brands_processed.inc(len({r.brand for r in outcome.applied}))
        return outcome

    def forget(self, brand: str) -> None:
        """Drop the cached clusters of a brand (deleted, or changed elsewhere)."""
        self._cache.pop(brand, None)

    async def _round(
        self, pending: dict[str, list[ChunkResult]], outcome: Outcome
    ) -> dict[str, list[ChunkResult]]:
        """Plan and write every pending brand once; the brands to try again."""
        await self._load_missing([b for b, rs in pending.items() if any(r.clusters for r in rs)])
        if not centroid_merge.loaded() and any(map(_has_centroid, pending.values())):
            started = time.perf_counter()  # compiled (seconds, once per machine) or read
            await asyncio.to_thread(centroid_merge.load)  # the loop keeps serving meanwhile
            log.info("aggregate.merge_loop_ready", seconds=round(time.perf_counter() - started, 2))
        started = time.perf_counter()
        now_ms = int(time.time() * 1000)
        plans = {
            brand: self._plan(brand, results, now_ms, outcome) for brand, results in pending.items()
        }
        plans = {brand: plan for brand, plan in plans.items() if plan.results}
        self.metrics.processing_time.observe(time.perf_counter() - started)
        if not plans:
            return {}
        started = time.perf_counter()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for brand, plan in plans.items():
                    self._apply.queue(pipe, self._apply_keys(brand), self._args(plan, now_ms))
                replies = await self.durability.execute(pipe, map(self.keys.aggregate, plans))
        except BaseException:
            for brand in plans:  # the cached copies hold merges that may not have been stored
                self.forget(brand)
            raise
        elapsed = time.perf_counter() - started
        self.metrics.redis_write_latency.observe(elapsed)
        self.metrics.io_time.observe(elapsed)
        retry: dict[str, list[ChunkResult]] = {}
        for (brand, plan), reply in zip(plans.items(), replies, strict=True):
            status = text(reply[0])
            if status == "ok":
                self._settled(brand, plan, text(reply[1]), outcome)
                continue
            self.forget(brand)  # the copy is stale, or was changed by the refused plan
            self.metrics.aggregate_replans.labels(status).inc()
            if status == "dup":
                dups = {text(chunk) for chunk in reply[1:]}
                outcome.duplicates.extend(r for r in plan.results if r.chunk_id in dups)
                retry[brand] = [r for r in plan.results if r.chunk_id not in dups]
            else:
                retry[brand] = plan.results
        return {brand: results for brand, results in retry.items() if results}

    def _plan(self, brand: str, results: list[ChunkResult], now_ms: int, outcome: Outcome) -> _Plan:
        cached = self._cache.get(brand)
        delta = Delta()
        accepted: list[ChunkResult] = []
        checked: list[Checked] = []
        dimensions: dict[str, int] = {}  # of the models in ``checked``
        for result in results:
            if result.clusters:
                assert cached is not None  # loaded by _round
                try:
                    vectors = cached.clusters.check(result, dimensions)
                    checked.append((result, seen_ms(result), vectors))
                except InvalidResultError as exc:
                    outcome.invalid.append((result, exc.reason))
                    continue
            accepted.append(result)
        merged = iter(cached.clusters.apply_all(checked) if cached is not None else [])
        for result in accepted:
            delta.add(result, next(merged) if result.clusters else [], now_ms)
        self.metrics.clusters_aggregated.inc(sum(len(result.clusters) for result, _, _ in checked))
        if cached is None or not (cached.clusters.changed or cached.clusters.removed):
            return _Plan(accepted, delta, "", [], [])
        clusters = cached.clusters
        args: list[ScriptArg] = []
        for cluster_id in clusters.changed:
            args += [cluster_id, encode_cluster(clusters.stored(cluster_id))]
        return _Plan(accepted, delta, cached.version, args, sorted(clusters.removed))

    def _settled(self, brand: str, plan: _Plan, version: str, outcome: Outcome) -> None:
        outcome.applied.extend(plan.results)
        cached = self._cache.get(brand)
        if cached is not None:
            cached.version = version
            cached.clusters.changed.clear()
            cached.clusters.removed.clear()

    def _args(self, plan: _Plan, now_ms: int) -> list[ScriptArg]:
        return [
            json.dumps(plan.delta.as_json()),
            plan.expected_version,
            now_ms,
            self.dedup_window_ms,
            _RETENTION_ARG,
            json.dumps(plan.removed),
            *plan.cluster_args,
        ]

    def _apply_keys(self, brand: str) -> list[str]:
        k = self.keys
        return [
            k.aggregate(brand),
            k.chunks_applied(brand),
            k.topics(brand),
            k.clusters(brand),
            k.buckets(brand, "minute"),
            k.buckets(brand, "hour"),
            k.buckets(brand, "day"),
            k.pending_chunks(brand),
        ]

    async def _load_missing(self, brands: list[str]) -> None:
        """Load the clusters of brands not in the cache, each as one consistent snapshot."""
        missing = [brand for brand in brands if brand not in self._cache]
        for brand in brands:
            if brand in self._cache:
                self._cache.move_to_end(brand)
        if not missing:
            return
        started = time.perf_counter()
        async with self.redis.pipeline(transaction=False) as pipe:
            for brand in missing:
                self._load.queue(pipe, [self.keys.aggregate(brand), self.keys.clusters(brand)])
            replies = await pipe.execute()
        elapsed = time.perf_counter() - started
        self.metrics.redis_read_latency.observe(elapsed)
        self.metrics.io_time.observe(elapsed)
        for brand, reply in zip(missing, replies, strict=True):
            clusters = (decode_cluster(blob) for blob in reply[2::2])
            self._cache[brand] = _Cached(text(reply[0]), BrandClusters(clusters, self.merge))
        while len(self._cache) > max(self.cache_brands, len(brands)):  # never one in use
            self._cache.popitem(last=False)


def _has_centroid(results: list[ChunkResult]) -> bool:
    return any(cluster.dimension is not None for result in results for cluster in result.clusters)
