"""GET /metrics in the Prometheus text format: a lean route."""

from __future__ import annotations

from starlette.responses import Response

from orchestrator.app.deps import hot_services
from orchestrator.app.lean import HotRequest, LeanRoute


async def metrics(request: HotRequest) -> Response:
    """Every collector of this replica's registry."""
    collectors = hot_services(request).metrics
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
