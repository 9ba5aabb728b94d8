"""What routes receive: the per-app services, built in the lifespan, as Annotated aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends
from redis.asyncio import Redis
from starlette.requests import Request

from orchestrator.alerts import Alerts
from orchestrator.app.lean import HotRequest
from orchestrator.brand_view import BrandView
from orchestrator.config import Settings
from orchestrator.dashboard.live import SummaryFeed
from orchestrator.dispatch import TaskQueue
from orchestrator.fleet import Fleet
from orchestrator.health import RedisWatch
from orchestrator.leader import Lease
from orchestrator.mentions import MentionStore
from orchestrator.metrics import Metrics
from orchestrator.parking import ParkingLot
from orchestrator.registry import Registry
from orchestrator.replicas import Replicas
from orchestrator.summaries import Summaries
from orchestrator.supervisor import Supervisor


@dataclass(frozen=True)
class Services:
    """Everything a request may need, created once per app in its lifespan."""

    settings: Settings
    redis: Redis
    metrics: Metrics
    supervisor: Supervisor
    redis_watch: RedisWatch
    registry: Registry
    queue: TaskQueue
    lease: Lease
    fleet: Fleet
    brand_view: BrandView
    parking: ParkingLot
    mentions: MentionStore
    summaries: Summaries
    alerts: Alerts
    started_monotonic: float
    replicas: Replicas
    summary_feed: SummaryFeed  # wakes the dashboard's event streams


def services_of(request: Request) -> Services:
    return cast(Services, request.state.services)


def hot_services(request: HotRequest) -> Services:
    """The services, for lean routes (which take a ``HotRequest``)."""
    return cast(Services, request.state["services"])


async def get_services(request: Request) -> Services:
    """Async on purpose: a sync dependency would run in the thread pool on every request."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_registry(request: Request) -> Registry:
    return services_of(request).registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
