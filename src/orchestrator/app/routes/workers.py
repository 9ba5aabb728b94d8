"""/v1/workers: every known worker and its state, from its heartbeats."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Depends
from starlette.responses import Response

from orchestrator.app.auth import require_read
from orchestrator.app.deps import ServicesDep

router = APIRouter(prefix="/v1/workers", tags=["workers"])
_encode = msgspec.json.Encoder().encode


@router.get("", dependencies=[Depends(require_read)])
async def list_workers(services: ServicesDep) -> Response:
    """``alive`` while heartbeats are fresh, ``stale`` when late, ``gone`` once expired."""
    workers = await services.fleet.workers()
    return Response(_encode({"items": workers}), media_type="application/json")
