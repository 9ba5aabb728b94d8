"""GET /metrics in the Prometheus text format: a lean route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.app.deps import services_of
from orchestrator.app.lean import LeanRoute


async def metrics(request: Request) -> Response:
    """Every collector of this replica's registry."""
    collectors = services_of(request).metrics
    return Response(collectors.render(), media_type=collectors.content_type)


ROUTES = [
    LeanRoute(
        "/metrics",
        metrics,
        "Prometheus metrics",
        "metrics",
        responses={200: "Prometheus text format"},
        media_type="text/plain",
    )
]
