"""create_app(settings): the one place where the HTTP application is wired together."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

from orchestrator import __version__
from orchestrator.app.deps import Services
from orchestrator.app.lean import LeanApp, LeanDispatch, add_lean_routes
from orchestrator.app.middleware import (
    HotRequestContext,
    ProblemCORSMiddleware,
    RequestContextMiddleware,
)
from orchestrator.app.problems import (
    handle_http_exception,
    handle_registry_error,
    handle_store_outage,
    handle_validation_error,
)
from orchestrator.app.routes import (
    aggregates,
    alerts,
    brands,
    failed,
    health,
    metrics,
    replicas,
    summaries,
    tasks,
    workers,
)
from orchestrator.app.routes import (
    mentions as mention_routes,
)
from orchestrator.brand_view import BrandView
from orchestrator.collection import build_collection
from orchestrator.config import Settings, load_settings
from orchestrator.dashboard.live import SummaryFeed
from orchestrator.dashboard.routes import add_dashboard
from orchestrator.errors import ConfigurationError, RegistryError
from orchestrator.fleet import Fleet, PipelineGauges
from orchestrator.gc_policy import settle_after_startup
from orchestrator.health import RedisWatch
from orchestrator.leader import Lease
from orchestrator.legacy import LegacySync
from orchestrator.logging import configure_logging
from orchestrator.mentions import MentionRetention, MentionStore
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.replicas import Replicas
from orchestrator.scheduler import Scheduler, SchedulerSettings
from orchestrator.store.connection import OUTAGES, connect, create_client
from orchestrator.store.durability import Durability
from orchestrator.supervisor import Supervisor

_STATIC = Path(str(resources.files("orchestrator.app") / "static"))


def create_app(settings: Settings, *, metrics_: Metrics | None = None) -> LeanApp:
    """Build the ASGI application. ``settings.redis_url`` must name the store to use."""
    if settings.redis_url is None:
        raise ConfigurationError("REDIS_URL: required by create_app (the CLI embeds a server)")
    collectors = metrics_ or Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        services = _build_services(settings, collectors)
        try:
            await connect(services.redis)
            async with services.supervisor.running():
                settle_after_startup(collect_first=True)
                yield {"services": services}
            await _release(services)
        finally:
            await services.redis.aclose()

    app = LeanApp(
        title="Orchestrator",
        version=__version__,
        summary="Brand registry, task distribution, collection, aggregation and summaries.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.include_router(brands.router)
    app.include_router(aggregates.router)
    app.include_router(alerts.router)
    app.include_router(failed.router)
    app.include_router(mention_routes.router)
    app.include_router(summaries.router)
    app.include_router(tasks.router)
    app.include_router(workers.router)
    app.include_router(replicas.router)
    lean_routes = [*health.ROUTES, *metrics.ROUTES, *summaries.ROUTES]
    add_lean_routes(
        app,
        lean_routes,
        models=[
            *aggregates.MODELS,
            *alerts.MODELS,
            *failed.MODELS,
            *mention_routes.MODELS,
            *summaries.MODELS,
        ],
    )
    _mount_docs(app)
    add_dashboard(app)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "if-match", "x-request-id"],
            expose_headers=["etag", "location", "x-request-id"],
            max_age=600,
        )
    handlers = {
        HTTPException: handle_http_exception,
        RequestValidationError: handle_validation_error,
        RegistryError: handle_registry_error,
        **dict.fromkeys(OUTAGES, handle_store_outage),
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
    limit = settings.max_body_bytes
    app.add_middleware(RequestContextMiddleware, metrics=collectors, max_body_bytes=limit)
    if not settings.cors_origins:  # with CORS, hot routes go through it too (its headers)
        app.lean = LeanDispatch(lean_routes, handlers)
        app.hot = HotRequestContext(metrics=collectors, max_body_bytes=limit)
    return app


def _build_services(settings: Settings, collectors: Metrics) -> Services:
    assert settings.redis_url is not None
    client = create_client(settings, settings.redis_url)
    watch = RedisWatch(client, collectors, settings.health_interval_sec, settings.redis_timeout_sec)
    durability = Durability(
        client, settings.redis_wait_replicas, settings.redis_wait_timeout_ms, collectors
    )
    registry = Registry(client, settings.keys(), collectors, durability)
    legacy = LegacySync(registry, settings.registry_sync_sec, owner=settings.orchestrator_id)
    supervisor = Supervisor(collectors, grace_s=settings.shutdown_grace_sec)
    supervisor.add("redis-watch", watch.step)
    supervisor.add("registry-sync", legacy.step, error_delay_s=settings.registry_sync_sec)
    keys = registry.keys
    lease = Lease(client, keys, settings.orchestrator_id, settings.leader_lease_sec)
    scheduler = Scheduler(
        client,
        keys,
        lease,
        collectors,
        SchedulerSettings(
            round_size=settings.scheduler_round_size,
            global_max_in_flight=settings.global_max_in_flight,
            max_attempts=settings.task_max_attempts,
            lost_after_s=settings.task_lost_after_sec,
        ),
    )
    collection = build_collection(registry, settings)
    supervisor.add("scheduler", scheduler.step, error_delay_s=lease.renew_every_s)
    for collector in collection.collectors:
        index = collector.partition.index
        supervisor.add("collector" if index == 0 else f"collector-{index}", collector.step)
    supervisor.add("legacy-results", collection.legacy.step, error_delay_s=settings.legacy_poll_sec)
    supervisor.add("spike-watch", collection.spikes.step, error_delay_s=collection.spikes.every_s)
    supervisor.add("summaries", collection.summaries.step, error_delay_s=5.0)
    supervisor.add("alerts", collection.alerts.step, error_delay_s=5.0)
    summary_cache = collection.summaries.summaries.cache
    supervisor.add("summary-cache", summary_cache.step, error_delay_s=1.0)
    mentions = MentionStore(client, keys, settings.mention_settings(), durability)
    retention = MentionRetention(mentions, registry.slugs)
    supervisor.add("mention-retention", retention.step, error_delay_s=retention.every_s)
    fleet = Fleet(client, keys)
    gauges = PipelineGauges(scheduler.queue, fleet, collectors)
    supervisor.add("pipeline-gauges", gauges.step, error_delay_s=gauges.every_s)
    replica_beat = Replicas(client, keys, settings.orchestrator_id)
    supervisor.add("replica-heartbeat", replica_beat.step, error_delay_s=replica_beat.every_s)
    feed = SummaryFeed(client, keys)
    supervisor.add("summary-feed", feed.step, error_delay_s=5.0)
    return Services(
        settings=settings,
        redis=client,
        metrics=collectors,
        supervisor=supervisor,
        redis_watch=watch,
        registry=registry,
        queue=scheduler.queue,
        lease=lease,
        fleet=fleet,
        brand_view=BrandView(client, keys),
        parking=collection.parking,
        mentions=mentions,
        summaries=collection.summaries.summaries,
        alerts=collection.alerts,
        started_monotonic=time.monotonic(),
        replicas=replica_beat,
        summary_feed=feed,
    )


async def _release(services: Services) -> None:
    """Hand the scheduler lease over and leave the replicas list at once on a clean stop."""
    await services.alerts.aclose()
    await services.summaries.cache.aclose()
    if services.summaries.llm is not None:
        await services.summaries.llm.aclose()
    try:
        await services.lease.release()
        await services.replicas.forget()
    except RedisError:
        structlog.get_logger(__name__).warning("leader.release_failed")


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from packaged assets: /docs works offline and under a strict CSP."""
    assets = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")
    app.mount("/docs/static", StaticFiles(directory=_STATIC), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(_STATIC / "docs.html", media_type="text/html")


def app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory`` in a reloading worker (``make dev``)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.orchestrator_id)
    return create_app(settings)
