"""Ours: the orchestrator's dispatch, ``orchestrator worker`` processes and its collector.

Pre-fill: the scheduler's own dispatch path (``TaskQueue.dispatch`` under a held lease: the Lua
script that checks the lease and fence, counts the task in flight and puts it on the ``noop``
stream), 1,000 tasks per pipeline. Workers: W ``orchestrator worker --kinds noop --burst``
processes (concurrency 2048). Collection: the orchestrator's ``Collector`` (the class every
replica runs) reads the results through its consumer group, releases each task's place in the
caps, and acknowledges and deletes the reports, a batch at a time.
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from bench.peers.dispatch.harness import Run, Workers
from orchestrator.collect import Collector
from orchestrator.collection import build_collection
from orchestrator.config import load_settings
from orchestrator.dispatch import TaskQueue
from orchestrator.keys import Keys
from orchestrator.leader import Lease
from orchestrator.metrics import Metrics
from orchestrator.protocol import new_task
from orchestrator.registry import Registry

NAME = "ours"
KIND = "noop"
PREFILL_BATCH = 1000
CONCURRENCY = 2048


async def _prefill(redis: Redis, keys: Keys, tasks: int) -> None:
    lease = Lease(redis, keys, "bench-dispatch", ttl_s=600)
    if not await lease.refresh():
        raise RuntimeError("the benchmark could not take the scheduler lease")
    queue = TaskQueue(redis, keys)
    await queue.ensure_groups([KIND])
    for start in range(0, tasks, PREFILL_BATCH):
        offers = [
            (new_task(KIND, "bench", {}, fence=lease.fence, max_attempts=3), tasks)
            for _ in range(min(PREFILL_BATCH, tasks - start))
        ]
        verdicts = await queue.dispatch(lease, offers, global_max=tasks)
        if set(verdicts) != {"ok"}:
            raise RuntimeError(f"dispatch refused tasks: {set(verdicts)}")


def _collector(redis: Redis, keys: Keys) -> Collector:
    """Built before the clock starts, as the raw peer's client is: a replica's collector
    exists long before any task (building it, alerts' HTTP client included, takes ~0.1 s)."""
    settings = load_settings(orchestrator_id="bench")
    collector = build_collection(Registry(redis, keys, Metrics()), settings).collectors[0]
    collector.batch = 1000
    return collector


async def _collect(collector: Collector, tasks: int, group: Workers) -> None:
    redis, keys = collector.redis, collector.keys
    seen = 0
    while seen < tasks:
        batch = await collector._read()
        if batch:
            group.saw_result()
            await collector.apply(batch)
            seen += len(batch)
        group.check()
    if await TaskQueue(redis, keys).in_flight():
        raise RuntimeError("tasks still counted in flight after every result was collected")


def argv() -> list[str]:
    return [
        sys.executable, "-m", "orchestrator", "worker", "--kinds", KIND, "--burst",
        "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip


async def _run(redis_url: str, tasks: int, workers: int) -> Run:
    redis = Redis.from_url(redis_url)
    keys = Keys()
    try:
        await _prefill(redis, keys, tasks)
        collector = _collector(redis, keys)
        group = Workers(NAME, [argv()] * workers, redis_url=redis_url, tasks=tasks, workers=workers)
        group.env.update({"REDIS_URL": redis_url, "LOG_LEVEL": "warn"})
        with group:
            await _collect(collector, tasks, group)
            return group.finish()
    finally:
        await redis.aclose()


def run(redis_url: str, tasks: int, workers: int) -> Run:
    return asyncio.run(_run(redis_url, tasks, workers))
