"""taskiq with taskiq-redis's stream broker and its Redis result backend.

Pre-fill: ``await task.kiq()`` per task, 100 in flight (taskiq has no bulk kick), after the
harness's ``broker.startup()`` created the consumer group. Workers: ``taskiq worker
MODULE:worker_broker --workers W --log-level WARNING`` — one CLI parent with W worker
processes, taskiq's defaults otherwise (``--max-async-tasks 100``, ``--max-prefetch 0``,
``--ack-type when_saved``) and the broker's (``xread_count=100``). Results:
``RedisAsyncResultBackend``; the harness collects each task's result in enqueue order
(``is_result_ready`` then ``get_result``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.peers.dispatch.harness import (
    QUEUE,
    VENV_BIN,
    Run,
    Workers,
    gather_chunked,
    load,
    wait_in_order_async,
    worker_url,
)


async def noop() -> None:
    return None


def build(redis_url: str) -> tuple[Any, Any, Any]:
    """Stream broker with the result backend on it, the backend, and the registered task."""
    taskiq_redis = load("taskiq_redis")
    backend = taskiq_redis.RedisAsyncResultBackend(redis_url=redis_url)
    broker = taskiq_redis.RedisStreamBroker(url=redis_url, queue_name=QUEUE)
    broker = broker.with_result_backend(backend)
    task = broker.register_task(noop, task_name="bench.noop")
    return broker, backend, task


def __getattr__(name: str) -> Any:
    """``worker_broker``: what ``taskiq worker`` loads in each worker process."""
    if name == "worker_broker":
        broker = build(worker_url())[0]
        globals()[name] = broker
        return broker
    raise AttributeError(name)


async def _run(redis_url: str, tasks: int, workers: int) -> Run:
    broker, backend, task = build(redis_url)
    await broker.startup()  # creates the consumer group before the tasks are added
    try:
        handles = await gather_chunked(tasks, task.kiq)
        argv = [
            str(VENV_BIN / "taskiq"),
            "worker",
            f"{__name__}:worker_broker",
            *("--workers", str(workers), "--log-level", "WARNING"),
        ]

        async def collected(task_id: str) -> bool:
            if not await backend.is_result_ready(task_id):
                return False
            await backend.get_result(task_id)
            return True

        ids = [handle.task_id for handle in handles]
        with Workers("taskiq", [argv], redis_url=redis_url, tasks=tasks, workers=workers) as group:
            await wait_in_order_async(ids, collected, group)
            return group.finish()
    finally:
        await broker.shutdown()


def run(redis_url: str, tasks: int, workers: int) -> Run:
    return asyncio.run(_run(redis_url, tasks, workers))
