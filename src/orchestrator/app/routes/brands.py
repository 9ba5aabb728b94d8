"""/v1/brands: the brand registry over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from orchestrator.app.auth import require_read, require_write
from orchestrator.app.deps import RegistryDep, ServicesDep
from orchestrator.app.models import SlugPath, problem_responses
from orchestrator.brand import (
    READ_ONLY_FIELDS,
    Brand,
    BrandCreate,
    BrandSpec,
    merge_patch,
    new_brand,
    now,
    revised,
)
from orchestrator.brand_secrets import MASK, Location, redacted_json, restored
from orchestrator.errors import VersionConflictError
from orchestrator.registry import ANY_VERSION
from orchestrator.types import BrandStatus, CamelModel

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"

router = APIRouter(prefix="/v1/brands", tags=["brands"])
reads = [Depends(require_read)]
writes = [Depends(require_write)]

_PROBLEMS = problem_responses(401, 404, 409, 412, 422)


class BrandPage(CamelModel):
    """A page of brands in slug order; follow ``nextCursor`` until it is null."""

    items: list[Brand]
    next_cursor: str | None


def _brand_response(brand: Brand, status: int = 200, **headers: str) -> Response:
    return Response(
        redacted_json(brand.to_json()),
        status_code=status,
        headers={"ETag": brand.etag, **headers},
        media_type=JSON,
    )


@router.post("", status_code=201, response_model=Brand, dependencies=writes, responses=_PROBLEMS)
async def create_brand(spec: BrandCreate, services: ServicesDep) -> Response:
    """Register a brand; its slug is derived from the name when absent. 409 if it exists.
    Webhooks on loopback or private addresses are refused (422) unless
    ``ALERT_ALLOW_PRIVATE``."""
    _check_webhooks(spec, allow_private=services.settings.alert_allow_private)
    _, unknown = restored(spec.model_dump(mode="json", by_alias=True), None)
    if unknown:
        raise _unknown_mask(unknown[0])
    brand = await services.registry.create(new_brand(spec, now()))
    return _brand_response(brand, 201, Location=f"/v1/brands/{brand.slug}")


@router.get("", response_model=BrandPage, dependencies=reads, responses=_PROBLEMS)
async def list_brands(
    registry: RegistryDep,
    status: BrandStatus | None = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="substring of slug, name or keyword"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """A page of brands in slug order. With ``q``, a page may hold fewer than ``limit`` items
    (each request examines at most 1,000 brands): follow ``nextCursor`` until it is null."""
    try:
        page = await registry.page(status=status, q=q, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise _invalid(("query", "cursor"), str(exc)) from None
    body = b'{"items":[%s],"nextCursor":%s}' % (
        b",".join(redacted_json(document) for document in page.documents),
        msgspec.json.encode(page.next_cursor),
    )
    return Response(body, media_type=JSON)


@router.get("/{slug}", response_model=Brand, dependencies=reads, responses=_PROBLEMS)
async def get_brand(
    slug: SlugPath,
    registry: RegistryDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One brand, with its ETag (``If-None-Match`` answers 304 when unchanged). Webhook
    secrets and source header values read as ``********``: sent back, they keep what is
    stored."""
    brand = await registry.get(slug)
    if if_none_match is not None and brand.etag in _etags(if_none_match):
        return Response(status_code=304, headers={"ETag": brand.etag})
    return _brand_response(brand)


@router.patch("/{slug}", response_model=Brand, dependencies=writes, responses=_PROBLEMS)
async def patch_brand(
    slug: SlugPath,
    services: ServicesDep,
    patch: Annotated[dict[str, Any], Body(media_type=MERGE_PATCH)],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Change settings with a JSON merge patch (RFC 7396; ``null`` restores a default).
    With ``If-Match``, 412 when the brand changed since that ETag: of two concurrent PATCHes
    with the same ETag, exactly one wins."""
    expected = _expected_version(if_match)
    registry = services.registry

    def change(current: Brand) -> Brand:
        if expected not in (None, ANY_VERSION, current.version):
            raise VersionConflictError(slug, current.version)
        changed = _patched(current, patch)
        _check_webhooks(changed, allow_private=services.settings.alert_allow_private)
        return changed

    if expected is None or expected == ANY_VERSION:
        return _brand_response(await registry.update(slug, change, due="keep"))
    current = await registry.get(slug)
    changed = change(current)
    if changed is not current:
        await registry.replace(changed, expected_version=current.version)
    return _brand_response(changed)


@router.delete("/{slug}", status_code=204, dependencies=writes, responses=_PROBLEMS)
async def delete_brand(
    slug: SlugPath,
    registry: RegistryDep,
    purge: Annotated[
        bool, Query(description="also delete mentions, aggregates, summaries")
    ] = False,
) -> Response:
    """Stop monitoring a brand at once; ``purge=true`` deletes its data too."""
    await registry.delete(slug, purge=purge)
    return Response(status_code=204)


@router.post("/{slug}/pause", response_model=Brand, dependencies=writes, responses=_PROBLEMS)
async def pause_brand(slug: SlugPath, registry: RegistryDep) -> Response:
    """No new tasks for this brand; tasks in flight finish."""
    return _brand_response(await registry.set_status(slug, BrandStatus.PAUSED))


@router.post("/{slug}/resume", response_model=Brand, dependencies=writes, responses=_PROBLEMS)
async def resume_brand(slug: SlugPath, registry: RegistryDep) -> Response:
    """Monitor the brand again; it is due at once."""
    return _brand_response(await registry.set_status(slug, BrandStatus.ACTIVE))


def _patched(current: Brand, patch: dict[str, Any]) -> Brand:
    """``current`` with ``patch`` merged into its settings, validated; itself if unchanged."""
    served = current.model_dump(mode="json", by_alias=True)
    immutable = [name for name in READ_ONLY_FIELDS if name in patch and patch[name] != served[name]]
    if immutable:
        raise _invalid(("body", immutable[0]), f"{immutable[0]} cannot be changed")
    settable = {name: value for name, value in patch.items() if name not in READ_ONLY_FIELDS}
    stored = current.spec_document()
    document, unknown = restored(merge_patch(stored, settable), stored)
    if unknown:
        raise _unknown_mask(unknown[0])
    try:
        spec = BrandSpec.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
    if spec.model_dump() == BrandSpec.model_validate(current.spec_document()).model_dump():
        return current
    return revised(current, spec, now())


def _unknown_mask(location: Location) -> RequestValidationError:
    return _invalid(
        ("body", *location),
        f"{MASK} stands for a stored secret, and this brand has none here: give the value",
    )


def _check_webhooks(spec: BrandSpec, *, allow_private: bool) -> None:
    """422 naming the first webhook whose URL points at loopback or a private address."""
    if allow_private:
        return
    for index, hook in enumerate(spec.alerts):
        refused = hook.private_target()
        if refused is not None:
            message = f"{refused}: webhooks must be public (ALERT_ALLOW_PRIVATE allows them)"
            raise _invalid(("body", "alerts", index, "url"), message)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _expected_version(if_match: str | None) -> int | str | None:
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return ANY_VERSION
    tags = _etags(if_match)
    if len(tags) != 1:
        raise _invalid(("header", "If-Match"), "give exactly one ETag or *")
    tag = tags.pop()
    try:
        return int(tag.strip('"'))
    except ValueError:
        raise _invalid(("header", "If-Match"), f"{tag} is not an ETag of this API") from None


def _invalid(location: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])
