"""/v1/brands/{slug}/summary: the brand's latest summary (with an ETag), its history, and a
refresh on demand."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Path, Query
from starlette.exceptions import HTTPException
from starlette.responses import Response

from orchestrator.app.auth import require_read, require_write
from orchestrator.app.deps import ServicesDep
from orchestrator.app.lean import documented
from orchestrator.app.models import Problem
from orchestrator.brand import SLUG_PATTERN
from orchestrator.summarize import Summary

router = APIRouter(prefix="/v1/brands", tags=["summaries"])
SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="the brand's slug")]
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 404, 422)
}
_encode = msgspec.json.Encoder().encode
JSON = "application/json"


class SummaryHistory(msgspec.Struct, rename="camel", frozen=True):
    """A brand's summaries, newest first."""

    items: list[Summary]


MODELS = (Summary, SummaryHistory)  # documented in /openapi.json


def _etag(document: bytes) -> str:
    return f'"{hashlib.sha256(document).hexdigest()[:32]}"'


@router.get(
    "/{slug}/summary",
    dependencies=[Depends(require_read)],
    responses={200: documented(Summary), 304: {"description": "Not modified"}, **_PROBLEMS},
)
async def summary(
    slug: SlugPath,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The latest summary (``summary:brand:{slug}``); 304 when ``If-None-Match`` is its ETag,
    404 until the brand has one."""
    await services.registry.get(slug)
    document = await services.summaries.latest(slug)
    if document is None:
        raise HTTPException(404, f"brand {slug!r} has no summary yet")
    etag = _etag(document)
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(document, media_type=JSON, headers={"ETag": etag})


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
    return Response(document, media_type=JSON, headers={"ETag": _etag(document)})
