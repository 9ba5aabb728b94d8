"""Durability benchmark: what confirming writes on a replica costs (``REDIS_WAIT_REPLICAS=1``).

``python -m bench.durability`` starts a private primary and its replica (both pinned to CPU 1;
the service's own code runs in this process, pinned to CPU 0) and runs each path with ``WAIT``
off (``REDIS_WAIT_REPLICAS=0``) and on (``1``), the two runs taking turns, three times:

- ingest: ``MentionStore.ingest``, the work behind ``POST /v1/brands/{slug}/mentions`` without
  the HTTP layer: requests of 1 and of 100 mentions, one at a time and 16 at once;
- apply: the replica's ``Collector`` (built as the app builds it) applying plain results over
  100 brands, read in batches of 1,000 (its default) and of 10 (a trickle of results).

It checks that every mention and result counted, prints the medians with the load average of
the machine before and after (figures taken on a busy machine say so), and writes the figures as
JSON under ``bench/results/``. See docs/cluster-failover.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from redis.asyncio import Redis

from bench.collect import KEYS, _drain, _plain, _prefill
from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collection import build_collection
from orchestrator.config import Settings, load_settings
from orchestrator.mentions import MentionStore
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.store.connection import create_client
from orchestrator.store.durability import Durability
from orchestrator.store.embedded import EmbeddedServer, replicated

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVICE_CPU, STORE_CPU = 0, 1
WAIT_TIMEOUT_MS = 1000
INGEST = ((1, 1), (1, 16), (100, 1), (100, 16))  # (mentions per request, requests at once)
APPLY_BATCHES = (1000, 10)


@dataclass
class Run:
    path: str
    wait: int  # REDIS_WAIT_REPLICAS
    items: int  # mentions or results
    seconds: float
    per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    exact: bool = True


def _mentions(first: int, count: int) -> list[bytes]:
    return [
        json.dumps({"id": f"m{n}", "text": f"bench mention number {n}"}).encode()
        for n in range(first, first + count)
    ]


async def ingest(url: str, wait: int, size: int, concurrency: int, seconds: float) -> Run:
    """Requests of ``size`` mentions, ``concurrency`` at once, for about ``seconds``."""
    settings = Settings(redis_url=url, redis_max_connections=32)
    client = create_client(settings, url)
    await client.flushall()
    store = MentionStore(client, KEYS, durability=Durability(client, wait, WAIT_TIMEOUT_MS))
    latencies: list[float] = []
    sent = accepted = 0
    deadline = time.perf_counter() + seconds

    async def sender() -> None:
        nonlocal sent, accepted
        while time.perf_counter() < deadline:
            batch, sent = _mentions(sent, size), sent + size
            started = time.perf_counter()
            outcome = await store.ingest("bench", batch)  # then add: += would read first
            accepted += outcome.accepted
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    stored = await client.xlen(KEYS.mentions("bench"))
    await client.aclose()
    cuts = statistics.quantiles(latencies, n=100)
    return Run(
        f"ingest {size} x{concurrency}", wait, accepted, round(elapsed, 2),
        round(accepted / elapsed), round(cuts[49] * 1000, 3), round(cuts[98] * 1000, 3),
        accepted == sent == stored,
    )  # fmt: skip


async def apply(url: str, wait: int, batch: int, results: int) -> Run:
    """``results`` plain results over 100 brands, read ``batch`` at a time."""
    redis = Redis.from_url(url)
    await redis.flushall()
    registry = Registry(redis, KEYS, Metrics(), Durability(redis, wait, WAIT_TIMEOUT_MS))
    settings = load_settings(orchestrator_id="bench", redis_url=url)
    collector = build_collection(registry, settings).collectors[0]
    collector.batch = batch
    await collector.queue.ensure_groups()
    brands = [f"brand-{i}" for i in range(100)]
    for brand in brands:
        await registry.create(new_brand(BrandCreate(name=brand, keywords=[brand]), now()))
    sent, mentions = await _prefill(redis, _plain(results))
    started = time.perf_counter()
    await _drain(collector, sent)
    elapsed = time.perf_counter() - started
    counted = sum([int(await redis.hget(KEYS.aggregate(b), "mentions") or 0) for b in brands])
    await redis.aclose()
    return Run(
        f"apply, batches of {batch}", wait, sent, round(elapsed, 2), round(sent / elapsed),
        exact=counted == mentions,
    )  # fmt: skip


async def _measure(url: str, args: argparse.Namespace) -> list[Run]:
    """Each path with WAIT off and on, the two taking turns three times; the medians."""
    medians: list[Run] = []
    for size, concurrency in INGEST:
        runs = [
            await ingest(url, w, size, concurrency, args.seconds) for _ in range(3) for w in (0, 1)
        ]
        medians += [_median(runs[0::2]), _median(runs[1::2])]
    for batch in APPLY_BATCHES:
        count = args.results if batch >= 100 else args.results // 4
        runs = [await apply(url, w, batch, count) for _ in range(3) for w in (0, 1)]
        medians += [_median(runs[0::2]), _median(runs[1::2])]
    return medians


def _median(runs: list[Run]) -> Run:
    median = sorted(runs, key=lambda run: run.per_s)[len(runs) // 2]
    median.exact = all(run.exact for run in runs)
    return median


def _pin(*servers: EmbeddedServer) -> None:
    if {SERVICE_CPU, STORE_CPU} <= os.sched_getaffinity(0):
        for server in servers:
            os.sched_setaffinity(server.pid or 0, {STORE_CPU})
        os.sched_setaffinity(0, {SERVICE_CPU})


def _print(runs: list[Run], load: dict[str, list[float]]) -> None:
    print(f"load average before {load['before']}, after {load['after']} (2 cores: ~0 is quiet)")
    print(f"{'path':28} {'wait':>4} {'items':>8} {'per s':>9} {'p50 ms':>7} {'p99 ms':>7}  exact")
    for run in runs:
        p50 = "" if run.p50_ms is None else run.p50_ms
        p99 = "" if run.p99_ms is None else run.p99_ms
        print(f"{run.path:28} {run.wait:>4} {run.items:>8} {run.per_s:>9,} {p50:>7} {p99:>7}  "
              f"{'yes' if run.exact else 'NO'}")  # fmt: skip


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="per ingest run")
    parser.add_argument("--results", type=int, default=10_000, help="per apply run")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as root, replicated(Path(root)) as (primary, replica):
        _pin(primary, replica)
        runs = asyncio.run(_measure(primary.url, args))
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    _print(runs, load)
    report = {"at": datetime.now(UTC).isoformat(), "load": load, "runs": [asdict(r) for r in runs]}
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS_DIR / f"durability-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0 if all(run.exact for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
