"""Health of the service: the Redis watch loop, and the verdicts of /health and readiness."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.backoff import ExponentialWithJitterBackoff

from orchestrator.errors import StoreUnavailableError
from orchestrator.metrics import Metrics
from orchestrator.store.connection import ping
from orchestrator.supervisor import Supervisor

log = structlog.get_logger(__name__)

_RECONNECT_CAP_S = 5.0


@dataclass
class RedisState:
    """The last thing the watch loop learned about Redis."""

    up: bool = False
    latency_s: float | None = None
    last_error: str | None = None
    since: float | None = None  # wall-clock time of the last change
    failures: int = 0


class RedisWatch:
    """Pings Redis every ``interval_s``; while it is down, retries with jittered backoff."""

    def __init__(self, client: Redis, metrics: Metrics, interval_s: float, timeout_s: float):
        self.client = client
        self.metrics = metrics
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.state = RedisState()
        self._backoff = ExponentialWithJitterBackoff(
            cap=max(_RECONNECT_CAP_S, interval_s), base=interval_s
        )

    async def step(self) -> float:
        state = self.state
        try:
            state.latency_s = await ping(self.client, self.metrics, self.timeout_s)
        except StoreUnavailableError as exc:
            if state.up or state.since is None:
                log.warning("redis.down", error=str(exc))
                state.since = time.time()
            state.up, state.last_error = False, str(exc)
            state.failures += 1
            self.metrics.redis_up.set(0)
            return self._backoff.compute(state.failures)
        if not state.up:
            log.info("redis.up", after_failures=state.failures, latency_s=state.latency_s)
            state.since = time.time()
        state.up, state.failures, state.last_error = True, 0, None
        self.metrics.redis_up.set(1)
        return self.interval_s


async def readiness(
    client: Redis, metrics: Metrics, supervisor: Supervisor, timeout_s: float
) -> list[str]:
    """The reasons the service is not ready; empty when it is."""
    reasons = [
        f"loop {status.name} is not running" for status in supervisor.statuses if not status.alive
    ]
    try:
        await ping(client, metrics, timeout_s)
    except StoreUnavailableError as exc:
        reasons.insert(0, f"redis does not answer: {exc}")
    return reasons
