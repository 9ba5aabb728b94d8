"""Collection benchmark: chunk results applied per second by one collector, and memory per brand.

``python -m bench.collect`` starts a private Valkey (pinned to CPU 1; the collector runs in this
process, pinned to CPU 0), pre-fills the results stream with workers' result reports, then runs
the replica's own ``Collector`` (built by ``build_collection``, as the app builds it) until every
report is applied, and checks the brands' totals against what was sent. Scenarios:

- ``plain``: results in the original format, no clusters, spread over 100 brands;
- ``clusters``: 5 clusters with 384-dimensional centroids per result, against a brand already
  holding 500 clusters (four of the five land near an existing centroid and merge; the fifth is
  new, so the brand evicts one); with the raw-cosine rule and again with the centred rule;
- ``million``: one brand, 10,000 results of 100 mentions each (1 million mentions, each with its
  time over 30 days and its sentiment, so every bucket resolution fills), 5 clusters per result;
  then the brand's memory in Valkey (``MEMORY USAGE`` of each of its keys).

The benchmark's process sets the garbage collector as the service's does once started
(``orchestrator.gc_policy``). It prints one table and writes the figures as JSON under
``bench/results/``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collection import build_collection
from orchestrator.config import load_settings
from orchestrator.gc_policy import settle_after_startup
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import FIELD, ResultReport, encode, utcnow
from orchestrator.registry import Registry
from orchestrator.store.embedded import EmbeddedServer

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COLLECTOR_CPU, STORE_CPU = 0, 1
DIMENSION = 384
KEYS = Keys()
PREFILL_BATCH = 500


@dataclass
class Figures:
    scenario: str
    results: int
    seconds: float
    results_per_s: float
    cpu_s: float
    mentions: int
    counts_exact: bool
    note: str = ""


def make_report(result: dict[str, Any], index: int) -> bytes:
    return encode(
        ResultReport(
            task_id=f"t{index}", kind="analyze", brand=result["brand"], worker_id="bench",
            attempt=1, fence=1, chunk_id=result["chunkId"], duration_ms=1.0,
            finished_at=utcnow(), result=result,
        )
    )  # fmt: skip


def make_result(brand: str, chunk: str, count: int, **extra: Any) -> dict[str, Any]:
    return {
        "chunkId": chunk,
        "brand": brand,
        "processedAt": "2026-11-01T00:00:00Z",
        "sentiment": {"positive": count // 2, "neutral": count - count // 2 - 1,
                      "negative": 1, "score": 1.5},
        "topics": ["launch", "price", f"topic-{int(chunk.rsplit('-', 1)[1]) % 50}"],
        "clusters": [],
        "spikeDetected": False,
        "meta": {"mentionCount": count},
        **extra,
    }  # fmt: skip


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    vectors = rng.normal(size=(rows, DIMENSION))
    unit: np.ndarray[Any, np.dtype[np.float64]] = vectors / np.linalg.norm(
        vectors, axis=1, keepdims=True
    )
    return unit


def _clusters(
    rng: np.random.Generator, chunk: str, bases: np.ndarray[Any, Any], *, binary: bool
) -> list[dict[str, Any]]:
    """Five clusters: four near one of ``bases`` (they merge), one new (it evicts); centroids
    as JSON numbers (the original format) or ``centroidF32`` (our workers' form)."""
    picks = rng.choice(len(bases), size=4, replace=False)
    near = bases[picks] + 0.02 * rng.normal(size=(4, DIMENSION))
    vectors = np.vstack([near, _unit(rng, 1)])
    return [
        {"id": f"{chunk}-c{i}", "label": f"theme {i}",
         "mentions": [f"{chunk}-m{j}" for j in range(20)], "size": 20,
         "sentimentScore": 0.25, "spike": False, **_centroid(vector, binary=binary)}
        for i, vector in enumerate(vectors)
    ]  # fmt: skip


def _centroid(vector: np.ndarray[Any, Any], *, binary: bool) -> dict[str, Any]:
    if binary:
        return {"centroidF32": vector.astype("<f4").tobytes()}  # base64 in the JSON
    return {"centroid": [round(float(x), 5) for x in vector]}


def _plain(count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield make_result(f"brand-{i % 100}", f"plain-{i}", 100)


def _clustered(count: int, model: str, *, binary: bool, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    bases = _unit(rng, 500)
    for i in range(count):
        chunk = f"{model}-{i}"
        clusters = _clusters(rng, chunk, bases, binary=binary)
        yield make_result("clustered", chunk, 100, clusters=clusters, embeddingModel=model)


def _seed(model: str, seed: int = 1) -> Iterator[dict[str, Any]]:
    """100 results whose 500 clusters are the bases the scenario's clusters land near."""
    rng = np.random.default_rng(seed)
    bases = _unit(rng, 500)
    for i in range(100):
        clusters = [
            {"id": f"base-{i * 5 + j}", "mentions": [f"seed-{i}-{j}"], "size": 20,
             "centroid": [round(float(x), 5) for x in bases[i * 5 + j]]}
            for j in range(5)
        ]  # fmt: skip
        yield make_result("clustered", f"seed-{model}-{i}", 100, clusters=clusters,
                      embeddingModel=model)  # fmt: skip


def _million(count: int, seed: int = 2) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    bases = _unit(rng, 500)
    start = datetime.now(UTC) - timedelta(days=30)
    span_s = 30 * 86_400
    labels = ("positive", "neutral", "negative")
    for i in range(count):
        chunk = f"million-{i}"
        offsets = np.sort(rng.integers(0, span_s, size=100))
        picked = rng.integers(0, 3, size=100)
        mentions = [
            {"id": f"{chunk}-m{j}", "createdAt": (start + timedelta(seconds=int(o))).isoformat(),
             "sentiment": labels[p]}
            for j, (o, p) in enumerate(zip(offsets, picked, strict=True))
        ]  # fmt: skip
        counts = [int((picked == k).sum()) for k in range(3)]
        result = make_result("million", chunk, 100, mentions=mentions,
                         clusters=_clusters(rng, chunk, bases, binary=True),
                         embeddingModel="orchestrator/bench")  # fmt: skip
        result["sentiment"] = dict(zip(labels, counts, strict=True)) | {"score": 0.5}
        yield result


async def _prefill(redis: Redis, results: Iterator[dict[str, Any]]) -> tuple[int, int]:
    """Put reports on the results stream; (results, mentions) sent."""
    sent = mentions = 0
    batch: list[bytes] = []
    for result in results:
        batch.append(make_report(result, sent))
        sent += 1
        mentions += result["meta"]["mentionCount"]
        if len(batch) == PREFILL_BATCH:
            await _xadd(redis, batch)
            batch = []
    await _xadd(redis, batch)
    return sent, mentions


async def _xadd(redis: Redis, reports: list[bytes]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for report in reports:
            pipe.xadd(KEYS.partition(0).result_stream, {FIELD: report})
        await pipe.execute()


@dataclass(frozen=True)
class Scenario:
    name: str
    brands: list[str]
    results: Callable[[], Iterator[dict[str, Any]]]
    seed: Callable[[], Iterator[dict[str, Any]]] | None = None  # applied before the clock


async def _scenario(url: str, scenario: Scenario) -> tuple[Figures, Redis]:
    name, brands = scenario.name, scenario.brands
    redis = Redis.from_url(url)
    await redis.flushall()
    registry = Registry(redis, KEYS, Metrics())
    collection = build_collection(registry, load_settings(orchestrator_id="bench", redis_url=url))
    collector = collection.collectors[0]
    await collector.queue.ensure_groups()
    for brand in brands:
        await registry.create(new_brand(BrandCreate(name=brand, keywords=[brand]), now()))
    seeded = (0, 0)
    if scenario.seed is not None:  # the brand's existing clusters, applied before the clock
        seeded = await _prefill(redis, scenario.seed())
        await _drain(collector, seeded[0])
    sent, mentions = await _prefill(redis, scenario.results())
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await _drain(collector, sent)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    chunks = counted = 0
    for brand in brands:
        aggregate = await redis.hgetall(KEYS.aggregate(brand))
        chunks += int(aggregate.get(b"chunks", 0))
        counted += int(aggregate.get(b"mentions", 0))
    exact = (chunks, counted) == (sent + seeded[0], mentions + seeded[1])
    figures = Figures(name, sent, round(seconds, 2), round(sent / seconds), round(cpu_s, 2),
                      mentions, exact)  # fmt: skip
    return figures, redis


async def _drain(collector: Any, expected: int) -> None:
    applied = 0
    while applied < expected:
        batch = await collector._read()
        await collector.apply(batch)
        applied += len(batch)


async def _memory(redis: Redis, brand: str) -> dict[str, int]:
    keys = [KEYS.aggregate(brand), KEYS.chunks_applied(brand), KEYS.topics(brand),
            KEYS.clusters(brand), *(KEYS.buckets(brand, r) for r in ("minute", "hour", "day"))]  # fmt: skip  # noqa: E501
    usage = {
        key.split(":", 2)[2]: int(await redis.memory_usage(key, samples=0) or 0) for key in keys
    }
    usage["total"] = sum(usage.values())
    return usage


async def _median(url: str, scenario: Scenario, repeat: int) -> tuple[Figures, Redis]:
    """Run a scenario ``repeat`` times; the run with the median rate (and the last store)."""
    runs: list[Figures] = []
    for run in range(repeat):
        figures, redis = await _scenario(url, scenario)
        runs.append(figures)
        if run < repeat - 1:
            await redis.aclose()
    median = sorted(runs, key=lambda f: f.results_per_s)[len(runs) // 2]
    median.note = f"runs: {', '.join(f'{f.results_per_s:,}' for f in runs)}/s"
    median.counts_exact = all(f.counts_exact for f in runs)
    return median, redis


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    figures: list[Figures] = []
    plain = Scenario(
        "plain (100 brands)", [f"brand-{i}" for i in range(100)], lambda: _plain(args.plain)
    )
    found, redis = await _median(url, plain, args.repeat)
    figures.append(found)
    await redis.aclose()
    variants = (
        ("external", "cosine", False),
        ("external", "cosine", True),
        ("orchestrator/bench", "centred", True),
    )
    for model, rule, binary in variants:
        clustered = Scenario(
            f"clusters 5x384 vs 500, {rule}, {'float32' if binary else 'JSON numbers'}",
            ["clustered"],
            partial(_clustered, args.clustered, model, binary=binary),
            partial(_seed, model),
        )
        found, redis = await _median(url, clustered, args.repeat)
        found.note += f"; {await redis.hlen(KEYS.clusters('clustered'))} clusters kept"
        figures.append(found)
        await redis.aclose()
    million = Scenario("1M mentions, one brand", ["million"], partial(_million, args.million))
    found, redis = await _scenario(url, million)
    memory = await _memory(redis, "million")
    found.note = f"{memory['total'] / 1e6:.1f} MB in Valkey"
    figures.append(found)
    await redis.aclose()
    return {"figures": [asdict(f) for f in figures], "memory_million": memory}


def _print(report: dict[str, Any]) -> None:
    header = (
        f"{'scenario':34} {'results':>8} {'s':>7} {'results/s':>10} {'cpu s':>7} {'exact':>6}  note"
    )
    print(header)
    for f in report["figures"]:
        print(f"{f['scenario']:48} {f['results']:>8} {f['seconds']:>7} {f['results_per_s']:>10,} "
              f"{f['cpu_s']:>7} {('yes' if f['counts_exact'] else 'NO'):>6}  {f['note']}")  # fmt: skip  # noqa: E501
    print("memory of the 1M-mention brand (bytes):", json.dumps(report["memory_million"]))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collect", description=__doc__)
    parser.add_argument("--plain", type=int, default=50_000, help="results without clusters")
    parser.add_argument("--clustered", type=int, default=10_000, help="results with clusters")
    parser.add_argument("--million", type=int, default=10_000, help="results of 100 mentions")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedServer(Path(data), appendonly=False)
        server.start()
        try:
            if {COLLECTOR_CPU, STORE_CPU} <= os.sched_getaffinity(0):
                os.sched_setaffinity(server.pid or 0, {STORE_CPU})
                os.sched_setaffinity(0, {COLLECTOR_CPU})
            settle_after_startup(collect_first=True)  # as in the service's process
            report = asyncio.run(_run(args, server.url))
        finally:
            server.stop()
    report["at"] = datetime.now(UTC).isoformat()
    _print(report)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS_DIR / f"collect-{stamp}.json").write_text(json.dumps(report, indent=2))
    exact = all(f["counts_exact"] for f in report["figures"])
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
