"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from orchestrator.app.deps import ServicesDep

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
