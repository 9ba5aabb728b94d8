"""arq: pre-fill with ``enqueue_job``, W ``arq`` CLI processes, results from arq's result keys.

Pre-fill: ``await pool.enqueue_job("noop")`` per task, 100 in flight (arq has no bulk enqueue).
Workers: W processes of ``arq MODULE.WORKER_SETTINGS`` (the CLI runs one worker per process),
with ``max_jobs=100`` (default 10; so each poll reads ``queue_read_limit`` = 500 job ids) and
``poll_delay=0.05`` s (default 0.5 s: a worker that drained its batch sleeps that long before
reading the queue again), results kept (``keep_result`` 3600 s, the default), per-job log lines
off (``log_results=False`` and the CLI's logging at WARNING). Results: the harness reads each
job's result in enqueue order with ``job.result_info()``.
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

MAX_JOBS = 100
POLL_DELAY_S = 0.05

#: ``--custom-log-dict``: the CLI's default logs a line per job at INFO.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "loggers": {"arq": {"handlers": ["stderr"], "level": "WARNING"}},
}


async def noop(_ctx: dict[str, Any]) -> None:
    return None


def settings(redis_url: str) -> dict[str, Any]:
    """The worker settings (arq's CLI accepts a dict as well as a class)."""
    connections = load("arq.connections")
    return {
        "functions": [noop],
        "queue_name": QUEUE,
        "redis_settings": connections.RedisSettings.from_dsn(redis_url),
        "max_jobs": MAX_JOBS,
        "poll_delay": POLL_DELAY_S,
        "log_results": False,
    }


def __getattr__(name: str) -> Any:
    """``WORKER_SETTINGS``: what the arq CLI loads in each worker process."""
    if name == "WORKER_SETTINGS":
        value = settings(worker_url())
        globals()[name] = value
        return value
    raise AttributeError(name)


async def _run(redis_url: str, tasks: int, workers: int) -> Run:
    arq = load("arq")
    connections = load("arq.connections")
    pool = await arq.create_pool(
        connections.RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE
    )
    try:
        jobs = await gather_chunked(tasks, lambda: pool.enqueue_job("noop"))
        argv = [
            str(VENV_BIN / "arq"),
            f"{__name__}.WORKER_SETTINGS",
            *("--custom-log-dict", f"{__name__}.LOG_CONFIG"),
        ]

        async def collected(job: Any) -> bool:
            return await job.result_info() is not None

        with Workers(
            "arq", [argv] * workers, redis_url=redis_url, tasks=tasks, workers=workers
        ) as group:
            await wait_in_order_async(jobs, collected, group)
            return group.finish()
    finally:
        await pool.aclose()


def run(redis_url: str, tasks: int, workers: int) -> Run:
    return asyncio.run(_run(redis_url, tasks, workers))
