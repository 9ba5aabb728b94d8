"""Handlers the end-to-end tests run in real worker processes
(``orchestrator worker --handlers tests.e2e.handlers:HANDLERS``).

Tests steer them through Redis: while ``test:hold`` exists a task stays in flight (so a worker
can be killed mid-task); while ``test:fail`` exists it raises. ``test:handled`` counts, per
chunk, the handlers that ran to the end.
"""

from __future__ import annotations

import asyncio

from orchestrator.worker import Context, Task


async def analyze(task: Task, context: Context) -> dict[str, object]:
    chunk = str(task.payload["chunkId"])
    redis = context.redis
    await redis.sadd("test:started", chunk)
    while await redis.exists("test:hold"):  # noqa: ASYNC110 - a flag in Redis, set by the test
        await asyncio.sleep(0.05)
    if await redis.exists("test:fail"):
        raise RuntimeError("asked to fail")
    await redis.hincrby("test:handled", chunk, 1)
    return {"chunkId": chunk, "count": task.payload["count"]}


HANDLERS = {"analyze": analyze}
