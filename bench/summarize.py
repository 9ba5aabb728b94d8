"""Summary benchmark: grounded summaries per second, and how fresh published summaries are.

``python -m bench.summarize`` starts a private Valkey (pinned to CPU 1; this process on CPU 0)
and builds a replica's collection side as the app does (``build_collection``). Two scenarios:

- ``throughput``: ``--brands`` brands (default 1,000), each with 3 applied results of 5 clusters
  with representative mentions; every brand is made due at once and the summary loop makes and
  publishes all their grounded summaries (``SUMMARY_CONCURRENCY`` at a time). Target: ≥ 500/s.
- ``freshness``: a steady stream of results (``--rate`` per second over ``--stream-brands``
  brands) read by the replica's own collector, while its summary loop runs with a debounce of
  ``--interval`` seconds. A reader follows the summaries channel and reads each new summary
  back (``GET summary:brand:{slug}``); a result is fresh once a readable summary counts it
  (``basedOn.chunks``). Latency is measured from the moment the result was *published*, so it
  includes collection. Target: p95 under 2 s beyond the debounce interval.

It prints one table and writes the figures as JSON under ``bench/results/``.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collection import Collection, build_collection
from orchestrator.config import load_settings
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import FIELD, ResultReport, encode, utcnow
from orchestrator.registry import Registry
from orchestrator.store.embedded import EmbeddedServer

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SELF_CPU, STORE_CPU = 0, 1
KEYS = Keys()
QUOTES = (
    "The battery barely lasts a day since the last firmware update",
    "Honestly the best sound I have had from earbuds at this price",
    "The case stopped charging after two weeks and support is slow",
    "Comfortable for a whole flight, no ear fatigue at all",
    "The new app moved every setting, it took ages to find the EQ",
)


@dataclass
class Figures:
    scenario: str
    summaries: int
    seconds: float
    summaries_per_s: float
    cpu_s: float
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    p95_beyond_interval_s: float | None = None
    note: str = ""


def _result(brand: str, chunk: str) -> dict[str, Any]:
    clusters = [
        {
            "id": f"{chunk}-c{i}",
            "label": quote.split()[1],
            "mentions": [f"{chunk}-m{i}-{j}" for j in range(8)],
            "representatives": [{"id": f"{chunk}-m{i}-0", "text": quote, "source": "rss"}],
        }
        for i, quote in enumerate(QUOTES)
    ]
    return {
        "chunkId": chunk, "brand": brand, "processedAt": utcnow().isoformat(),
        "sentiment": {"positive": 18, "neutral": 12, "negative": 10, "score": 4.5},
        "topics": ["battery", "sound", "case"], "clusters": clusters,
        "spikeDetected": False, "meta": {"mentionCount": 40},
    }  # fmt: skip


def _report(result: dict[str, Any]) -> bytes:
    return encode(
        ResultReport(
            task_id=result["chunkId"], kind="analyze", brand=result["brand"], worker_id="bench",
            attempt=1, fence=1, chunk_id=result["chunkId"], duration_ms=1.0,
            finished_at=utcnow(), result=result,
        )
    )  # fmt: skip


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _collection(redis: Redis, brands: list[str], **settings: Any) -> Collection:
    registry = Registry(redis, KEYS, Metrics())
    for slug in brands:
        spec = BrandCreate(name=slug.title(), slug=slug, keywords=[slug])
        await registry.create(new_brand(spec, now()))
    options = {"orchestrator_id": "bench", "log_level": "error", **settings}
    return build_collection(registry, load_settings(**options))


async def _apply_all(redis: Redis, collection: Collection, reports: list[bytes]) -> None:
    for start in range(0, len(reports), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for report in reports[start : start + 500]:
                pipe.xadd(KEYS.partition(0).result_stream, {FIELD: report})
            await pipe.execute()
    collector = collection.collectors[0]
    await collector.queue.ensure_groups()
    while batch := await collector._read():
        await collector.apply(batch)


async def throughput(redis: Redis, brand_count: int) -> Figures:
    brands = [f"brand-{i:05d}" for i in range(brand_count)]
    collection = await _collection(redis, brands)
    reports = [_report(_result(b, f"{b}-{c}")) for b in brands for c in range(3)]
    await _apply_all(redis, collection, reports)
    watch = collection.summaries
    for slug in brands:
        watch.now(slug)
    cpu, started = _cpu_s(), time.perf_counter()
    await watch.step()
    seconds = time.perf_counter() - started
    cpu = _cpu_s() - cpu
    made = sum([await redis.exists(KEYS.legacy_summary(b)) for b in brands])
    await collection.alerts.aclose()
    return Figures(
        "throughput", made, seconds, made / seconds, cpu,
        note=f"{brand_count} brands, 5 clusters each, concurrency 8",
    )  # fmt: skip


@dataclass
class _Stream:
    """The freshness scenario's producer and reader, and what they saw."""

    redis: Redis
    brands: list[str]
    rate: float
    published: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    fresh: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    all_seen: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0

    async def produce(self, duration_s: float) -> None:
        """Publish results at ``rate``, round-robin over the brands, noting when each went."""
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < duration_s:
            for i in range(self.sent, int(elapsed * self.rate)):
                brand = self.brands[i % len(self.brands)]
                chunk = f"{brand}-{len(self.published[brand])}"
                await self.redis.xadd(
                    KEYS.partition(0).result_stream, {FIELD: _report(_result(brand, chunk))}
                )
                self.published[brand].append(time.perf_counter())
                self.sent += 1
            await asyncio.sleep(0.005)

    async def read(self) -> None:
        """Follow the summaries channel; read each new summary back, as a reader would."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(KEYS.summary_channel)
        while not self.stop.is_set():
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                brand = message["data"].decode()
                self._readable(brand, await self.redis.get(KEYS.legacy_summary(brand)))
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _readable(self, brand: str, raw: bytes | str | None) -> None:
        readable = time.perf_counter()
        counted = json.loads(raw or b"{}").get("basedOn", {}).get("chunks", 0)
        times = self.published[brand]
        for i in range(self.fresh[brand], min(counted, len(times))):
            self.latencies.append(readable - times[i])
        self.fresh[brand] = max(self.fresh[brand], counted)
        if self.sent and len(self.latencies) >= self.sent:
            self.all_seen.set()


async def freshness(
    redis: Redis, brand_count: int, rate: float, interval_s: float, duration_s: float
) -> Figures:
    brands = [f"live-{i:03d}" for i in range(brand_count)]
    collection = await _collection(redis, brands, summary_min_interval_sec=interval_s)
    await collection.collectors[0].queue.ensure_groups()
    stream = _Stream(redis, brands, rate)

    async def loop(step: Any) -> None:
        while not stream.stop.is_set():
            if delay := await step():
                await asyncio.sleep(min(delay, 0.05))

    cpu, started = _cpu_s(), time.perf_counter()
    tasks = [
        asyncio.create_task(loop(collection.collectors[0].step)),
        asyncio.create_task(loop(collection.summaries.step)),
        asyncio.create_task(stream.read()),
    ]
    await stream.produce(duration_s)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stream.all_seen.wait(), timeout=interval_s + 10)
    stream.stop.set()
    await asyncio.gather(*tasks)
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    await collection.alerts.aclose()
    ordered = sorted(stream.latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return Figures(
        "freshness", len(ordered), seconds, len(ordered) / seconds, cpu,
        p50_s=statistics.median(ordered), p95_s=p95, max_s=ordered[-1],
        p95_beyond_interval_s=p95 - interval_s,
        note=f"{rate:g} results/s over {brand_count} brands for {duration_s:g} s, "
        f"debounce {interval_s:g} s; {stream.sent} results, {len(ordered)} seen fresh",
    )  # fmt: skip


def _table(rows: list[Figures]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"{'scenario':<11} {'summaries':>9} {'per s':>8} {'cpu s':>6} "
        f"{'p50 s':>6} {'p95 s':>6} {'max s':>6} {'p95-int':>7}  note"
    ]
    lines += [
        f"{r.scenario:<11} {r.summaries:>9,} {r.summaries_per_s:>8,.0f} {r.cpu_s:>6.1f} "
        f"{seconds(r.p50_s):>6} {seconds(r.p95_s):>6} {seconds(r.max_s):>6} "
        f"{seconds(r.p95_beyond_interval_s):>7}  {r.note}"
        for r in rows
    ]
    return "\n".join(lines)


async def _run(args: argparse.Namespace, url: str) -> list[Figures]:
    redis = Redis.from_url(url)
    try:
        rows = []
        if "throughput" in args.scenarios:
            await redis.flushall()
            rows.append(await throughput(redis, args.brands))
            print(_table(rows[-1:]), flush=True)
        if "freshness" in args.scenarios:
            await redis.flushall()
            rows.append(
                await freshness(redis, args.stream_brands, args.rate, args.interval, args.duration)
            )
            print(_table(rows[-1:]).splitlines()[-1], flush=True)
        return rows
    finally:
        await redis.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summarize", description=__doc__)
    parser.add_argument("--brands", type=int, default=1000, help="throughput: brands")
    parser.add_argument("--stream-brands", type=int, default=50, help="freshness: brands")
    parser.add_argument("--rate", type=float, default=100.0, help="freshness: results/s")
    parser.add_argument("--interval", type=float, default=5.0, help="freshness: debounce s")
    parser.add_argument("--duration", type=float, default=30.0, help="freshness: seconds")
    parser.add_argument(
        "--scenarios", default="throughput,freshness", help="comma-separated subset"
    )
    args = parser.parse_args(argv)
    args.scenarios = set(args.scenarios.split(","))
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory(prefix="bench-summarize-") as workdir:
        store = EmbeddedServer(Path(workdir), appendonly=False)
        store.start()
        try:
            if store.pid is not None and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(store.pid, {STORE_CPU})
                os.sched_setaffinity(0, {SELF_CPU})
            rows = asyncio.run(_run(args, store.url))
        finally:
            store.stop()
    print()
    print(_table(rows))
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC)
    document = {
        "benchmark": "summarize",
        "finished_at": stamp.isoformat(timespec="seconds"),
        "results": [asdict(r) for r in rows],
    }
    path = RESULTS_DIR / f"summarize-{stamp:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
