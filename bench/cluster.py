"""Standalone server against a Redis Cluster: task round trips and results applied per second.

``python -m bench.cluster`` runs two workloads on three stores, one store at a time. The three
stores are a standalone Valkey with one stream partition (the default deployment), the same
server with ``--partitions`` partitions (what partitioning alone costs), and a cluster of three
primaries (no replicas; ``tests.cluster.ValkeyCluster``, the same ``valkey-server``) with
``--partitions`` partitions. The two workloads:

- **dispatch** and **round trip**: ``--tasks`` no-op tasks over 64 brands, dispatched through the
  scheduler's own path (``TaskQueue.dispatch`` under a held lease, 1,000 per pipeline: timed as
  ``dispatch``). ``--workers`` ``orchestrator worker --kinds
  noop --burst`` processes handle them, and this process runs one replica's collectors (one per
  partition, concurrently, as the app does), which apply and acknowledge the reports. Clock:
  first worker started → last report collected; no task may be left in flight.
- **results applied**: ``--results`` chunk results in the original format (100 mentions each,
  over 100 brands) on their partitions' results streams; the replica's collectors apply them
  all. The clock stops when every report is applied, then every brand's totals are checked.

Everything shares this machine's cores (the benchmark, the workers and every node), so the
cluster's figures show its overhead, not its gain. docs/benchmarks.md has the figures and
the expected scaling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from tests.cluster import ValkeyCluster

from bench.collect import make_report, make_result
from bench.peers.dispatch.harness import Workers
from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collect import Collector
from orchestrator.collection import build_collection
from orchestrator.config import Settings, load_settings
from orchestrator.dispatch import TaskQueue
from orchestrator.leader import Lease
from orchestrator.metrics import Metrics
from orchestrator.protocol import FIELD, new_task
from orchestrator.registry import Registry
from orchestrator.store.connection import connect, create_client
from orchestrator.store.embedded import EmbeddedServer

RESULTS_DIR = Path(__file__).resolve().parent / "results"
KIND = "noop"
TASK_BRANDS = [f"bench-{i}" for i in range(64)]
RESULT_BRANDS = [f"brand-{i}" for i in range(100)]
BATCH = 1000


@dataclass
class Figure:
    store: str
    partitions: int
    workload: str
    count: int
    per_s: float  # median over the runs
    runs: list[int]
    exact: bool
    store_cpu_us: float  # the store's CPU (every node's) per task or result, median


@dataclass(frozen=True)
class Store:
    name: str
    url: str
    partitions: int
    flush: Callable[[], Awaitable[None]]
    cpu_s: Callable[[], float]  # CPU seconds the store's processes have used so far

    def settings(self) -> Settings:
        return load_settings(
            redis_url=self.url, stream_partitions=self.partitions, orchestrator_id="bench"
        )


async def _client(store: Store) -> Redis:
    client = create_client(store.settings(), store.url)
    await connect(client)
    return client


def _collectors(redis: Redis, store: Store) -> list[Collector]:
    settings = store.settings()
    registry = Registry(redis, settings.keys(), Metrics())
    collectors = build_collection(registry, settings).collectors
    for collector in collectors:
        collector.batch = BATCH
    return collectors


async def _collect(collectors: list[Collector], expected: int, progress: Callable[[], None]) -> int:
    """Run every collector until ``expected`` reports were applied between them; the others'
    blocking reads (up to a second on an empty partition) are cancelled then, not awaited."""
    applied = 0
    finished = asyncio.Event()

    async def drain(collector: Collector) -> None:
        nonlocal applied
        try:
            while applied < expected:
                batch = await collector._read()
                if batch:
                    progress()
                    await collector.apply(batch)
                    applied += len(batch)
        finally:
            finished.set()  # done, or failed: either way the run ends here

    drains = [asyncio.create_task(drain(collector)) for collector in collectors]
    try:
        await finished.wait()
    finally:
        for task in drains:
            task.cancel()
        outcomes = await asyncio.gather(*drains, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return applied


async def round_trip(
    store: Store, tasks: int, workers: int
) -> dict[str, tuple[float, bool, float]]:
    """Tasks dispatched per second by the leader's own path, and round trips per second."""
    await store.flush()
    redis = await _client(store)
    keys = store.settings().keys()
    try:
        lease = Lease(redis, keys, "bench-cluster", ttl_s=600)
        if not await lease.refresh():
            raise RuntimeError("the benchmark could not take the scheduler lease")
        queue = TaskQueue(redis, keys)
        await queue.ensure_groups([KIND])
        started, cpu = time.perf_counter(), store.cpu_s()
        for start in range(0, tasks, BATCH):
            offers = [
                (new_task(KIND, TASK_BRANDS[i % len(TASK_BRANDS)], {}, fence=lease.fence,
                          max_attempts=3), tasks)
                for i in range(start, min(start + BATCH, tasks))
            ]  # fmt: skip
            if set(await queue.dispatch(lease, offers, global_max=tasks)) != {"ok"}:
                raise RuntimeError("dispatch refused tasks")
        dispatched_s, dispatch_cpu = time.perf_counter() - started, store.cpu_s() - cpu
        collectors = _collectors(redis, store)
        argv = [sys.executable, "-m", "orchestrator", "worker", "--kinds", KIND, "--burst",
                "--concurrency", "2048"]  # fmt: skip
        group = Workers(
            f"cluster-{store.name}", [argv] * workers, redis_url=store.url, tasks=tasks,
            workers=workers,
        )  # fmt: skip
        group.env.update(
            {"REDIS_URL": store.url, "LOG_LEVEL": "warn",
             "STREAM_PARTITIONS": str(store.partitions)}
        )  # fmt: skip
        cpu = store.cpu_s()
        with group:
            collected = await asyncio.wait_for(
                _collect(collectors, tasks, group.saw_result), group.timeout_s
            )
            run = group.finish()
        trip_cpu = store.cpu_s() - cpu
        exact = collected == tasks and not await queue.in_flight()
        return {
            "dispatch": (tasks / dispatched_s, True, dispatch_cpu / tasks),
            "round trip": (run.tasks_per_s, exact, trip_cpu / tasks),
        }
    finally:
        await redis.aclose()


async def results_applied(store: Store, results: int) -> dict[str, tuple[float, bool, float]]:
    await store.flush()
    redis = await _client(store)
    keys = store.settings().keys()
    try:
        registry = Registry(redis, keys, Metrics())
        for brand in RESULT_BRANDS:
            await registry.create(new_brand(BrandCreate(name=brand, keywords=[brand]), now()))
        collectors = _collectors(redis, store)
        await TaskQueue(redis, keys).ensure_groups()
        for start in range(0, results, BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(start, min(start + BATCH, results)):
                    brand = RESULT_BRANDS[i % len(RESULT_BRANDS)]
                    report = make_report(make_result(brand, f"plain-{i}", 100), i)
                    pipe.xadd(keys.partition_for(brand).result_stream, {FIELD: report})
                await pipe.execute()
        started, cpu = time.perf_counter(), store.cpu_s()
        await _collect(collectors, results, lambda: None)
        seconds, cpu = time.perf_counter() - started, store.cpu_s() - cpu
        chunks = mentions = 0
        for brand in RESULT_BRANDS:
            totals = await redis.hmget(keys.aggregate(brand), ["chunks", "mentions"])
            chunks += int(totals[0] or 0)
            mentions += int(totals[1] or 0)
        exact = (chunks, mentions) == (results, results * 100)
        return {"results applied": (results / seconds, exact, cpu / results)}
    finally:
        await redis.aclose()


def _cpu_s(clients: Sequence[SyncRedis]) -> float:
    """CPU seconds (user + system) the servers behind ``clients`` have used since they started."""
    used = 0.0
    for client in clients:
        info = client.info("cpu")
        used += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return used


async def _standalone_flush(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        await redis.flushall()
    finally:
        await redis.aclose()


def _measure(store: Store, args: argparse.Namespace) -> list[Figure]:
    workloads: list[tuple[int, Callable[[], Awaitable[dict[str, tuple[float, bool, float]]]]]] = [
        (args.tasks, lambda: round_trip(store, args.tasks, args.workers)),
        (args.results, lambda: results_applied(store, args.results)),
    ]
    figures = []
    for count, measure in workloads:
        runs = [asyncio.run(_once(measure)) for _ in range(args.repeat)]
        for workload in runs[0]:
            rates = [round(run[workload][0]) for run in runs]
            exact = all(run[workload][1] for run in runs)
            median = statistics.median(rates)
            cpu_us = round(statistics.median(run[workload][2] for run in runs) * 1e6, 1)
            figures.append(
                Figure(store.name, store.partitions, workload, count, median, rates, exact, cpu_us)
            )
            print(
                f"  {store.name:12} {store.partitions:>2} partitions  {workload:16} "
                f"{median:>9,.0f}/s  runs {rates}  exact {exact}  store {cpu_us} us each",
                flush=True,
            )
    return figures


async def _once(
    measure: Callable[[], Awaitable[dict[str, tuple[float, bool, float]]]],
) -> dict[str, tuple[float, bool, float]]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    return await measure()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000, help="no-op tasks per round trip")
    parser.add_argument("--results", type=int, default=20_000, help="results per drain")
    parser.add_argument("--partitions", type=int, default=3, help="stream partitions")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedServer(Path(data) / "standalone", appendonly=False)
        server.start()
        try:
            flush = lambda: _standalone_flush(server.url)  # noqa: E731
            with SyncRedis.from_url(server.url) as client:
                cpu = partial(_cpu_s, [client])
                for partitions in (1, args.partitions):
                    store = Store("standalone", server.url, partitions, flush, cpu)
                    figures += _measure(store, args)
        finally:
            server.stop()
        cluster = ValkeyCluster(Path(data) / "cluster", primaries=3, replicas=0)
        cluster.start()
        try:

            async def flush_cluster() -> None:
                cluster.flush()

            clients = [SyncRedis(node.host, node.port) for node in cluster.nodes]
            cpu = partial(_cpu_s, clients)
            store = Store("cluster-3", cluster.url, args.partitions, flush_cluster, cpu)
            figures += _measure(store, args)
            for client in clients:
                client.close()
        finally:
            cluster.stop()
    _print(figures)
    report = {"at": datetime.now(UTC).isoformat(), "options": vars(args),
              "figures": [asdict(f) for f in figures]}  # fmt: skip
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS_DIR / f"cluster-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0 if all(f.exact for f in figures) else 1


def _print(figures: list[Figure]) -> None:
    base = {f.workload: f.per_s for f in figures if f.store == "standalone" and f.partitions == 1}
    print(f"{'store':12} {'partitions':>10} {'workload':16} {'count':>7} {'per s':>9} "
          f"{'vs default':>10} {'store us':>9} {'exact':>6}  runs")  # fmt: skip
    for f in figures:
        ratio = f.per_s / base[f.workload] if base.get(f.workload) else 0.0
        exact = "yes" if f.exact else "NO"
        print(f"{f.store:12} {f.partitions:>10} {f.workload:16} {f.count:>7} {f.per_s:>9,.0f} "
              f"{ratio:>10.2f} {f.store_cpu_us:>9} {exact:>6}  {f.runs}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
