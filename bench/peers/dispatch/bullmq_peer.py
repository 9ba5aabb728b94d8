"""bullmq (the Python package): ``Queue.addBulk`` pre-fill, ``Worker`` processes, completed count.

bullmq's Python package has no worker CLI: a worker process is this module run as a script
(``python -m bench.peers.dispatch.bullmq_peer``), one ``Worker`` with ``concurrency: 50`` (the
value the BullMQ concurrency guide shows; default 1) and the defaults otherwise; W such
processes, as BullMQ recommends scaling out with more worker processes. Pre-fill:
``queue.addBulk`` of 1,000 jobs at a time. Results: each job's return value is stored by the
worker when it moves the job to "completed" (jobs are kept, the default); the harness polls
``queue.getJobCounts("completed", "failed")`` until every job is completed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from bench.peers.dispatch.harness import POLL_S, QUEUE, Run, Workers, load, worker_url

CONCURRENCY = 50
BULK = 1000


async def noop(_job: Any, _token: str) -> None:
    return None


async def _prefill(queue: Any, tasks: int) -> None:
    for start in range(0, tasks, BULK):
        await queue.addBulk([{"name": "noop", "data": {}} for _ in range(min(BULK, tasks - start))])


async def _run(redis_url: str, tasks: int, workers: int) -> Run:
    queue = load("bullmq").Queue(QUEUE, {"connection": redis_url})
    try:
        await _prefill(queue, tasks)
        argv = [sys.executable, "-m", __name__]
        with Workers(
            "bullmq", [argv] * workers, redis_url=redis_url, tasks=tasks, workers=workers
        ) as group:
            while True:
                counts = await queue.getJobCounts("completed", "failed")
                if counts["failed"]:
                    group.check()
                    raise RuntimeError(f"{counts['failed']} jobs failed")
                if counts["completed"]:
                    group.saw_result()
                if counts["completed"] >= tasks:
                    return group.finish()
                group.check()
                await asyncio.sleep(POLL_S)
    finally:
        await queue.close()


def run(redis_url: str, tasks: int, workers: int) -> Run:
    return asyncio.run(_run(redis_url, tasks, workers))


# --- worker process ------------------------------------------------------------------------------


async def work(redis_url: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = load("bullmq").Worker(
        QUEUE, noop, {"connection": redis_url, "concurrency": CONCURRENCY}
    )
    await stop.wait()
    await worker.close()


if __name__ == "__main__":
    asyncio.run(work(worker_url()))
