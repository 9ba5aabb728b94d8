"""Celery with the Redis broker (kombu) and the Redis result backend.

Pre-fill: one ``group(noop.s() x N).apply_async()`` (all messages through one producer
connection). Workers: ``celery -A MODULE:worker_app worker --pool prefork --concurrency W``
— the default prefork pool, so one consumer parent plus W child processes — with the
"Optimizing" guide's advice for many short tasks: ``worker_prefetch_multiplier=128`` (default
4); early acknowledgement (``task_acks_late=False``, the default); and the usual
``--without-gossip --without-mingle --without-heartbeat`` for a worker that needs no cluster
events, log level WARNING (INFO logs a line per task). Results: the harness joins the group
with ``join_native`` (the Redis backend's batched MGET of the pending result keys, every 50 ms).
"""

from __future__ import annotations

from typing import Any

from bench.peers.dispatch.harness import QUEUE, VENV_BIN, Run, Workers, load, worker_url

PREFETCH_MULTIPLIER = 128
JOIN_INTERVAL_S = 0.05


def noop() -> None:
    return None


def build(redis_url: str) -> tuple[Any, Any]:
    """The Celery app and its no-op task."""
    celery = load("celery")
    app = celery.Celery("bench", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=PREFETCH_MULTIPLIER,
        task_acks_late=False,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
    )
    task = app.task(name="bench.noop")(noop)
    return app, task


def __getattr__(name: str) -> Any:
    """``worker_app``: what ``celery -A`` loads in the worker."""
    if name == "worker_app":
        app = build(worker_url())[0]
        globals()[name] = app
        return app
    raise AttributeError(name)


def run(redis_url: str, tasks: int, workers: int) -> Run:
    celery = load("celery")
    app, task = build(redis_url)
    try:
        result = celery.group(task.s() for _ in range(tasks)).apply_async()
        argv = [
            str(VENV_BIN / "celery"),
            *("-A", f"{__name__}:worker_app", "worker", "-Q", QUEUE),
            *("--pool", "prefork", "--concurrency", str(workers), "--loglevel", "WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
        with Workers("celery", [argv], redis_url=redis_url, tasks=tasks, workers=workers) as group:
            collected = 0

            def on_result(_task_id: str, _value: Any) -> None:
                nonlocal collected
                collected += 1
                group.saw_result()

            result.join_native(
                timeout=group.remaining_s(),
                interval=JOIN_INTERVAL_S,
                callback=on_result,
                on_interval=group.check,
            )
            if collected != tasks:
                raise RuntimeError(f"collected {collected} results of {tasks}")
            return group.finish()
    finally:
        app.close()
