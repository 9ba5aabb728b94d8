"""/v1/failed: payloads the collector could not apply, with the reason and the raw payload."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from orchestrator.app.auth import require_read
from orchestrator.app.deps import ServicesDep
from orchestrator.app.lean import documented
from orchestrator.app.models import problem_responses
from orchestrator.brand import SLUG_PATTERN
from orchestrator.parking import Parked

router = APIRouter(prefix="/v1/failed", tags=["results"], dependencies=[Depends(require_read)])
_PROBLEMS = problem_responses(401, 422)
_encode = msgspec.json.Encoder().encode


class ParkedList(msgspec.Struct, rename="camel", frozen=True):
    """Parked payloads, newest first; follow ``nextCursor`` until it is null."""

    items: list[Parked]
    next_cursor: str | None


MODELS = (ParkedList,)  # documented in /openapi.json


@router.get("", responses={200: documented(ParkedList), **_PROBLEMS})
async def parked_payloads(
    services: ServicesDep,
    brand: Annotated[str | None, Query(pattern=SLUG_PATTERN, description="one brand's")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d+(-\d+)?$", max_length=64)] = None,
) -> Response:
    """Parked payloads, newest first: reason, message, brand, source, raw payload, time."""
    parking = services.parking
    page = await (parking.page_of(brand, limit, cursor) if brand else parking.page(limit, cursor))
    body = ParkedList(page.items, page.next_cursor)
    return Response(_encode(body), media_type="application/json")
