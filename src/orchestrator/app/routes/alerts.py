"""/v1/brands/{slug}/alerts: the delivery log of the brand's spike alerts."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from orchestrator.alerts import Delivery
from orchestrator.app.auth import require_read
from orchestrator.app.deps import ServicesDep
from orchestrator.app.lean import documented
from orchestrator.app.models import SlugPath, problem_responses

router = APIRouter(prefix="/v1/brands", tags=["alerts"])
_PROBLEMS = problem_responses(401, 404, 422)


class DeliveryLog(msgspec.Struct, frozen=True):
    """The brand's alert deliveries, newest first: pending ones and the last finished ones."""

    items: list[Delivery]


MODELS = (DeliveryLog,)
_encode = msgspec.json.Encoder().encode


@router.get(
    "/{slug}/alerts",
    dependencies=[Depends(require_read)],
    responses={200: documented(DeliveryLog), **_PROBLEMS},
)
async def alert_log(
    slug: SlugPath,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Each delivery: its id (``X-Delivery-Id``), the spike, the URL, its status
    (``pending``, ``delivered``, ``failed``, ``cancelled``), attempts, the last status code
    or error, and when the next attempt is due."""
    await services.registry.get(slug)
    items = await services.alerts.deliveries(slug, limit)
    return Response(_encode(DeliveryLog(items)), media_type="application/json")
