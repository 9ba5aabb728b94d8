"""/v1/brands/{slug}/mentions: mentions in (a JSON array or NDJSON), and reading them back."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from orchestrator.app.auth import require_read, require_write
from orchestrator.app.deps import ServicesDep
from orchestrator.app.lean import documented
from orchestrator.app.models import SlugPath, problem_responses
from orchestrator.app.problems import MALFORMED_JSON_PROBLEM, problem
from orchestrator.errors import BrandPausedError
from orchestrator.mentions import BodyError, IngestOutcome, MentionItem, MentionPage, split_body
from orchestrator.types import BrandStatus

router = APIRouter(prefix="/v1/brands", tags=["mentions"])
_PROBLEMS = problem_responses(400, 401, 404, 409, 413, 415, 422)
NDJSON = "application/x-ndjson"
_encode = msgspec.json.Encoder().encode


MODELS = (IngestOutcome, MentionPage)  # documented in /openapi.json


@router.post(
    "/{slug}/mentions",
    status_code=202,
    dependencies=[Depends(require_write)],
    responses={202: documented(IngestOutcome), **_PROBLEMS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Mention"}}
                },
                NDJSON: {"schema": {"type": "string", "description": "one mention per line"}},
            },
        }
    },
)
async def add_mentions(slug: SlugPath, request: Request, services: ServicesDep) -> Response:
    """Accept up to 5,000 mentions (5 MB): the valid ones are stored even when others are
    rejected; the answer counts accepted and duplicate mentions and lists each rejected one
    with its index and the field at fault."""
    brand = await services.registry.get(slug)
    if brand.status is BrandStatus.PAUSED:
        raise BrandPausedError(slug)
    try:
        items = split_body(await request.body(), _is_ndjson(request))
    except BodyError as exc:
        if exc.too_large:
            raise HTTPException(413, str(exc)) from None
        return problem(
            400,
            type_=MALFORMED_JSON_PROBLEM,
            title="Malformed JSON",
            detail=str(exc),
            instance=request.url.path,
        )
    outcome = await services.mentions.ingest(slug, items, brand.cadence)
    return Response(_encode(outcome), status_code=202, media_type="application/json")


@router.get(
    "/{slug}/mentions",
    dependencies=[Depends(require_read)],
    responses={200: documented(MentionPage), **_PROBLEMS},
)
async def list_mentions(
    slug: SlugPath,
    services: ServicesDep,
    after: Annotated[
        str | None,
        Query(pattern=r"^(\d+-\d+|\$)$", description="an entry id, or $ for new ones only"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The brand's mentions still in its stream, oldest first (``after=$``: from now on)."""
    await services.registry.get(slug)
    store = services.mentions
    start = (await store.last_id(slug) or "0-0") if after == "$" else after
    found, next_after = await store.page(slug, start, limit)
    page = MentionPage([MentionItem(entry_id, mention) for entry_id, mention in found], next_after)
    return Response(_encode(page), media_type="application/json")


def _is_ndjson(request: Request) -> bool:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind in (NDJSON, "application/jsonl", "application/jsonlines"):
        return True
    if kind in ("application/json", ""):
        return False
    raise HTTPException(415, f"send application/json (an array) or {NDJSON}, not {kind}")
