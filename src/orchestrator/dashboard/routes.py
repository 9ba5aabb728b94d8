"""The dashboard's pages (``/``, ``/brands/{slug}``, ``/system``), their event streams
(``/dashboard/live/...``) and its static files (``/dashboard/static``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.staticfiles import StaticFiles

from orchestrator import __version__
from orchestrator.app.deps import Services, ServicesDep
from orchestrator.brand import SLUG_PATTERN
from orchestrator.dashboard.access import require_page_read
from orchestrator.dashboard.charts import RANGES, Range
from orchestrator.dashboard.live import Regions, Render, events
from orchestrator.dashboard.views import ago, brand_list, brand_page, system_page
from orchestrator.errors import BrandNotFoundError
from orchestrator.types import BrandStatus

STATIC = Path(str(resources.files("orchestrator.dashboard") / "static"))
SlugPath = Annotated[str, PathParam(pattern=SLUG_PATTERN)]
Search = Annotated[str, Query(max_length=100)]
Cursor = Annotated[str | None, Query(max_length=200)]
RangeQuery = Annotated[str, Query(alias="range", max_length=8)]
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_REGIONS = {  # page → the templates of its live regions
    "brands": ("_brand_rows.html",),
    "brand": ("_summary.html", "_charts.html", "_topics.html", "_clusters.html"),
    "system": ("_replicas.html", "_workers.html", "_streams.html", "_dead.html", "_parked.html"),
}
EVERY_S = {"brands": 10.0, "brand": 10.0, "system": 3.0}  # re-render at least this often
MAX_AGE_S = 15.0  # an event stream's life (at most half the shutdown grace): the browser reconnects


@dataclass(frozen=True)
class BrandQuery:
    """The brand list's search text, status filter and page."""

    q: str
    status: BrandStatus | None
    cursor: str | None


async def brand_query(q: Search = "", status: str = "", cursor: Cursor = None) -> BrandQuery:
    known = {s.value for s in BrandStatus}
    return BrandQuery(q.strip(), BrandStatus(status) if status in known else None, cursor)


QueryDep = Annotated[BrandQuery, Depends(brand_query)]


def _range(value: str) -> Range:
    return next((r for r in RANGES if r == value), "7d")


def _when(at: datetime | None) -> str:
    return f"{at:%d %b %Y %H:%M:%S} UTC" if at else "never"


class Pages:
    """Renders the pages and their regions with the package's Jinja2 templates."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("orchestrator.dashboard"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(ago=ago, when=_when, number="{:,}".format)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        services: Services = request.state.services
        html = self.render(
            template,
            request=request,
            version=__version__,
            needs_key=services.settings.api_key is not None,
            now=datetime.now(UTC),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def regions(self, page: str, **context: Any) -> Regions:
        now = datetime.now(UTC)
        return {name: self.render(name, now=now, **context) for name in _REGIONS[page]}

    def stream(self, request: Request, page: str, render: Render) -> Response:
        services: Services = request.state.services
        max_age_s = min(MAX_AGE_S, services.settings.shutdown_grace_sec / 2)
        body = events(render, services.summary_feed, every_s=EVERY_S[page], max_age_s=max_age_s)
        return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)

    async def brands(self, request: Request, services: ServicesDep, query: QueryDep) -> Response:
        listing = await brand_list(services, query.q, query.status, query.cursor)
        return self.page(request, "brands.html", listing=listing, live=request.url.query)

    async def brands_live(
        self, request: Request, services: ServicesDep, query: QueryDep
    ) -> Response:
        async def render() -> Regions:
            listing = await brand_list(services, query.q, query.status, query.cursor)
            return self.regions("brands", listing=listing)

        return self.stream(request, "brands", render)

    async def brand(
        self, request: Request, services: ServicesDep, slug: SlugPath, span: RangeQuery = "7d"
    ) -> Response:
        try:
            view = await brand_page(services, slug, _range(span))
        except BrandNotFoundError:
            return self.page(request, "missing.html", status=404, slug=slug)
        return self.page(request, "brand.html", view=view)

    async def brand_live(
        self, request: Request, services: ServicesDep, slug: SlugPath, span: RangeQuery = "7d"
    ) -> Response:
        async def render() -> Regions:
            return self.regions("brand", view=await brand_page(services, slug, _range(span)))

        return self.stream(request, "brand", render)

    async def system(self, request: Request, services: ServicesDep) -> Response:
        return self.page(request, "system.html", view=await system_page(services))

    async def system_live(self, request: Request, services: ServicesDep) -> Response:
        async def render() -> Regions:
            return self.regions("system", view=await system_page(services))

        return self.stream(request, "system", render)


def add_dashboard(app: FastAPI) -> None:
    """Mount the dashboard on ``app``: its pages, event streams and static files."""
    pages = Pages()
    router = APIRouter(
        include_in_schema=False,
        dependencies=[Depends(require_page_read)],
        default_response_class=HTMLResponse,
    )
    router.add_api_route("/", pages.brands, methods=["GET"])
    router.add_api_route("/brands/{slug}", pages.brand, methods=["GET"])
    router.add_api_route("/system", pages.system, methods=["GET"])
    router.add_api_route("/dashboard/live/brands", pages.brands_live, methods=["GET"])
    router.add_api_route("/dashboard/live/brands/{slug}", pages.brand_live, methods=["GET"])
    router.add_api_route("/dashboard/live/system", pages.system_live, methods=["GET"])
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
