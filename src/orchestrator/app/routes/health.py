"""GET /health (the original's report), /health/live and /health/ready."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.responses import Response

from orchestrator import __version__
from orchestrator.app.deps import ServicesDep
from orchestrator.app.models import ApiModel
from orchestrator.app.problems import problem
from orchestrator.health import readiness

router = APIRouter(tags=["health"])


class RedisHealth(ApiModel):
    status: str  # "up" | "down"
    latency_ms: float | None
    last_error: str | None
    since: float | None


class LoopHealth(ApiModel):
    alive: bool
    iterations: int
    errors: int
    last_error: str | None
    last_step_at: float | None


class HealthReport(ApiModel):
    status: str  # "ok" | "degraded"
    orchestrator_id: str
    version: str
    uptime_sec: float
    redis: RedisHealth
    loops: dict[str, LoopHealth]


class Ready(ApiModel):
    status: str


@router.get("/health", response_model=None, responses={200: {"model": HealthReport}})
async def health(services: ServicesDep) -> Response:
    """The service's state from memory: no Redis round trip per request."""
    redis = services.redis_watch.state
    loops = {
        status.name: LoopHealth(
            alive=status.alive,
            iterations=status.iterations,
            errors=status.errors,
            last_error=status.last_error,
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
    return Response(report.to_json(), media_type="application/json")


@router.get("/health/live", response_model=Ready)
async def live() -> Response:
    """The process answers HTTP."""
    return Response(b'{"status":"live"}', media_type="application/json")


@router.get(
    "/health/ready",
    response_model=Ready,
    responses={503: {"description": "Redis does not answer or a loop is dead"}},
)
async def ready(services: ServicesDep) -> Response:
    """200 when Redis answers a PING and every background loop runs; 503 with the reasons."""
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
    return Response(b'{"status":"ready"}', media_type="application/json")
