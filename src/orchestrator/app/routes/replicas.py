"""/v1/replicas: the orchestrator replicas, from their heartbeats, and which one leads."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Depends
from starlette.responses import Response

from orchestrator.app.auth import require_read
from orchestrator.app.deps import ServicesDep

router = APIRouter(prefix="/v1/replicas", tags=["replicas"])
_encode = msgspec.json.Encoder().encode


@router.get("", dependencies=[Depends(require_read)])
async def list_replicas(services: ServicesDep) -> Response:
    """Every replica seen in the last hour: ``alive``, ``stale`` or ``gone`` from its heartbeat,
    and ``leader`` for the one holding the scheduler lease."""
    leadership = await services.lease.current()
    replicas = await services.replicas.views(leadership.owner)
    return Response(_encode({"items": replicas}), media_type="application/json")
