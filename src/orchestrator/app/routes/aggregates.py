"""/v1/brands/{slug}/aggregate and /timeline: what the results added up to."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from orchestrator.app.auth import require_read
from orchestrator.app.deps import ServicesDep
from orchestrator.app.lean import documented
from orchestrator.app.models import SlugPath, problem_responses
from orchestrator.brand_view import (  # fmt: skip
    BUCKETS,
    MAX_POINTS,
    AggregateView,
    BucketWidth,
    TimelineView,
    Window,
)

router = APIRouter(prefix="/v1/brands", tags=["aggregates"], dependencies=[Depends(require_read)])
_PROBLEMS = problem_responses(401, 404, 422)
_DEFAULT_SPAN_MS = {"1m": 2 * 3_600_000, "1h": 7 * 86_400_000, "1d": 90 * 86_400_000}
_encode = msgspec.json.Encoder().encode
MODELS = (AggregateView, TimelineView)  # documented in /openapi.json


def _json(value: msgspec.Struct) -> Response:
    return Response(_encode(value), media_type="application/json")


@router.get(
    "/{slug}/aggregate",
    responses={200: documented(AggregateView), **_PROBLEMS},
)
async def aggregate(
    slug: SlugPath,
    services: ServicesDep,
    window: Annotated[Window, Query(description="how far back to count")] = "all",
) -> Response:
    """Totals, sentiment, topics, top clusters and spikes of one brand over a window."""
    await services.registry.get(slug)  # 404 for an unknown brand
    return _json(await services.brand_view.aggregate(slug, window))


@router.get(
    "/{slug}/timeline",
    responses={200: documented(TimelineView), **_PROBLEMS},
)
async def timeline(
    slug: SlugPath,
    services: ServicesDep,
    bucket: Annotated[BucketWidth, Query(description="bucket width")] = "1h",
    start: Annotated[datetime | None, Query(alias="from", description="RFC 3339")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="RFC 3339; default now")] = None,
) -> Response:
    """Volume and sentiment counts per bucket, zeros included, with the spikes in range."""
    await services.registry.get(slug)
    end_ms = _ms(end, "to") if end else int(time.time() * 1000)
    start_ms = _ms(start, "from") if start else end_ms - _DEFAULT_SPAN_MS[bucket]
    if start_ms >= end_ms:
        raise _invalid("from", "must be before `to`", start)
    if (end_ms - start_ms) // BUCKETS[bucket][0] > MAX_POINTS:
        raise _invalid("from", f"at most {MAX_POINTS} buckets of {bucket} per request", start)
    return _json(await services.brand_view.timeline(slug, bucket, start_ms, end_ms))


def _ms(value: datetime, name: str) -> int:
    if value.tzinfo is None:
        raise _invalid(name, "needs a time zone (RFC 3339, e.g. 2025-01-01T00:00:00Z)", value)
    return int(value.timestamp() * 1000)


def _invalid(name: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", name), "msg": message, "type": "value_error", "input": str(value)}]
    )
