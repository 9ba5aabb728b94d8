"""dramatiq with its Redis broker; results through its Results middleware and Redis backend.

Pre-fill: ``actor.send()`` per task (dramatiq has no bulk enqueue; ``group().run()`` is the same
loop). Workers: ``dramatiq MODULE:worker_broker --processes W --threads 8`` — one CLI parent
that forks W worker processes, each with the CLI's default 8 worker threads and the default
prefetch (2 x threads). Results: the actor has ``store_results=True``; the harness waits for each
message's result in enqueue order with ``message.get_result(block=True)`` (a blocking pop on
the result key, so no polling).
"""

from __future__ import annotations

from typing import Any

from bench.peers.dispatch.harness import (
    QUEUE,
    VENV_BIN,
    Run,
    Workers,
    load,
    worker_url,
)

THREADS = 8  # the CLI's default worker threads per process
GET_TIMEOUT_MS = 1000  # one blocking wait; the harness checks the workers between waits


def noop() -> None:
    return None


def build(redis_url: str) -> tuple[Any, Any, Any]:
    """Broker (Results middleware on it), result backend and the no-op actor."""
    dramatiq = load("dramatiq")
    brokers = load("dramatiq.brokers.redis")
    results = load("dramatiq.results")
    backends = load("dramatiq.results.backends")
    broker = brokers.RedisBroker(url=redis_url)
    backend = backends.RedisBackend(url=redis_url)
    broker.add_middleware(results.Results(backend=backend))
    actor = dramatiq.actor(
        noop, actor_name="noop", queue_name=QUEUE, store_results=True, broker=broker
    )
    return broker, backend, actor


def __getattr__(name: str) -> Any:
    """``worker_broker``: what the dramatiq CLI loads in each worker process."""
    if name == "worker_broker":
        broker = build(worker_url())[0]
        load("dramatiq").set_broker(broker)
        globals()[name] = broker
        return broker
    raise AttributeError(name)


def run(redis_url: str, tasks: int, workers: int) -> Run:
    broker, backend, actor = build(redis_url)
    result_timeout = load("dramatiq.results").ResultTimeout
    try:
        messages = [actor.send() for _ in range(tasks)]
        argv = [
            str(VENV_BIN / "dramatiq"),
            f"{__name__}:worker_broker",
            *("--processes", str(workers), "--threads", str(THREADS), "--queues", QUEUE),
        ]
        with Workers(
            "dramatiq", [argv], redis_url=redis_url, tasks=tasks, workers=workers
        ) as group:
            for message in messages:
                while True:
                    try:
                        message.get_result(backend=backend, block=True, timeout=GET_TIMEOUT_MS)
                        break
                    except result_timeout:
                        group.check()
                group.saw_result()
            return group.finish()
    finally:
        broker.close()
        backend.client.close()
