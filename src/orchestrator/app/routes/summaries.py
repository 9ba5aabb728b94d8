"""/v1/brands/{slug}/summary: the brand's latest summary (with an ETag), its history, and a
refresh on demand."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from orchestrator.app.auth import authorize_read, require_read, require_write
from orchestrator.app.deps import ServicesDep, hot_services
from orchestrator.app.lean import HotRequest, LeanRoute, Prepared, documented
from orchestrator.app.models import Problem, SlugPath, problem_responses
from orchestrator.brand import SLUG_PATTERN
from orchestrator.summarize import Summary
from orchestrator.summary_cache import etag_of

router = APIRouter(prefix="/v1/brands", tags=["summaries"])
_PROBLEMS = problem_responses(401, 404, 422)
_encode = msgspec.json.Encoder().encode
JSON = "application/json"
_SLUG = re.compile(SLUG_PATTERN)


class SummaryHistory(msgspec.Struct, rename="camel", frozen=True):
    """A brand's summaries, newest first."""

    items: list[Summary]


MODELS = (Summary, SummaryHistory)  # documented in /openapi.json


async def summary(request: HotRequest) -> Response | Prepared:
    """The brand's latest summary (``summary:brand:{slug}``), with its ETag: 304 when
    ``If-None-Match`` names it, 404 until the brand has one. Served from memory: a new summary
    is seen at once, a write nobody announced within ``SUMMARY_CACHE_SEC``."""
    services = hot_services(request)
    if services.settings.read_api_key is not None:
        authorize_read(request.header("authorization"), services.settings)
    slug = request.path_params["slug"]
    if _SLUG.fullmatch(slug) is None:
        raise RequestValidationError(
            [{"loc": ("path", "slug"), "msg": f"must match {SLUG_PATTERN}", "type": "pattern"}]
        )
    entry = await services.summaries.cache.get(slug)
    if entry is None:
        await services.registry.get(slug)  # 404 naming the brand when it is not registered
        raise HTTPException(404, f"brand {slug!r} has no summary yet")
    tags = request.header("if-none-match")
    if tags and entry.etag in {tag.strip().removeprefix("W/") for tag in tags.split(",")}:
        return Prepared(304, [("etag", entry.etag)])
    headers = [("content-type", JSON), ("content-length", entry.length), ("etag", entry.etag)]
    return Prepared(200, headers, entry.document)


ROUTES = [
    LeanRoute(
        "/v1/brands/{slug}/summary",
        summary,
        "The brand's latest summary",
        "summaries",
        responses={
            200: Summary,
            304: "Not modified",
            401: Problem,
            404: Problem,
            422: Problem,
        },
    )
]


@router.get(
    "/{slug}/summaries",
    dependencies=[Depends(require_read)],
    responses={200: documented(SummaryHistory), **_PROBLEMS},
)
async def summaries(
    slug: SlugPath,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """The brand's summaries, newest first."""
    await services.registry.get(slug)
    documents = await services.summaries.history(slug, limit)
    return Response(b'{"items":[' + b",".join(documents) + b"]}", media_type=JSON)


@router.post(
    "/{slug}/summary/refresh",
    dependencies=[Depends(require_write)],
    responses={200: documented(Summary), **_PROBLEMS},
)
async def refresh(slug: SlugPath, services: ServicesDep) -> Response:
    """Make and publish the brand's summary now."""
    document = _encode(await services.summaries.refresh(slug))
    return Response(document, media_type=JSON, headers={"ETag": etag_of(document)})
