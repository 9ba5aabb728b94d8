"""GET /health (the original's report), /health/live and /health/ready: lean routes."""

from __future__ import annotations

import time
from typing import Literal

import msgspec
from starlette.responses import Response

from orchestrator import __version__
from orchestrator.app.deps import hot_services
from orchestrator.app.lean import HotRequest, LeanRoute
from orchestrator.app.models import Problem
from orchestrator.app.problems import problem
from orchestrator.health import readiness

JSON = "application/json"
_encode = msgspec.json.Encoder().encode


class RedisHealth(msgspec.Struct, rename="camel"):
    """What the Redis watch loop last saw."""

    status: Literal["up", "down"]
    latency_ms: float | None
    last_error: str | None
    since: float | None


class LoopHealth(msgspec.Struct, rename="camel"):
    """One background loop."""

    alive: bool
    iterations: int
    errors: int
    last_error: str | None
    last_error_at: float | None  # after lastStepAt: the loop's latest step failed
    last_step_at: float | None


class HealthReport(msgspec.Struct, rename="camel"):
    """The service's state: `ok` when Redis is up and every loop runs, else `degraded`."""

    status: Literal["ok", "degraded"]
    orchestrator_id: str
    version: str
    uptime_sec: float
    redis: RedisHealth
    loops: dict[str, LoopHealth]


class Status(msgspec.Struct):
    """A one-word verdict."""

    status: str


async def health(request: HotRequest) -> Response:
    """The service's state from memory: no Redis round trip per request."""
    services = hot_services(request)
    redis = services.redis_watch.state
    loops = {
        status.name: LoopHealth(
            alive=status.alive,
            iterations=status.iterations,
            errors=status.errors,
            last_error=status.last_error,
            last_error_at=status.last_error_at,
            last_step_at=status.last_step_at,
        )
        for status in services.supervisor.statuses
    }
    healthy = redis.up and all(loop.alive for loop in loops.values())
    report = HealthReport(
        status="ok" if healthy else "degraded",
        orchestrator_id=services.settings.orchestrator_id,
        version=__version__,
        uptime_sec=round(time.monotonic() - services.started_monotonic, 3),
        redis=RedisHealth(
            status="up" if redis.up else "down",
            latency_ms=None if redis.latency_s is None else round(redis.latency_s * 1000, 3),
            last_error=redis.last_error,
            since=redis.since,
        ),
        loops=loops,
    )
    return Response(_encode(report), media_type=JSON)


async def live(_: HotRequest) -> Response:
    """200 while the process answers HTTP."""
    return Response(b'{"status":"live"}', media_type=JSON)


async def ready(request: HotRequest) -> Response:
    """200 when Redis answers a PING and every background loop runs; else 503 with reasons."""
    services = hot_services(request)
    reasons = await readiness(
        services.redis,
        services.metrics,
        services.supervisor,
        services.settings.redis_timeout_sec,
    )
    if reasons:
        return problem(
            503, title="Not ready", detail="; ".join(reasons), instance="/health/ready",
            reasons=reasons,
        )  # fmt: skip
    return Response(b'{"status":"ready"}', media_type=JSON)


ROUTES = [
    LeanRoute("/health", health, "Service health", "health", responses={200: HealthReport}),
    LeanRoute("/health/live", live, "Liveness", "health", responses={200: Status}),
    LeanRoute("/health/ready", ready, "Readiness", "health", responses={200: Status, 503: Problem}),
]
