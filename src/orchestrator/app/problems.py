"""RFC 9457 problem details: every error the HTTP API returns is ``application/problem+json``."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from orchestrator.errors import (
    BrandExistsError,
    BrandNotFoundError,
    BrandPausedError,
    NotReplicatedError,
    RegistryError,
    VersionConflictError,
)

PROBLEM_JSON = "application/problem+json"
VALIDATION_PROBLEM = "urn:problem:orchestrator:validation-error"
MALFORMED_JSON_PROBLEM = "urn:problem:orchestrator:malformed-json"

log = structlog.get_logger(__name__)


def problem_body(
    status: int,
    *,
    detail: str | None = None,
    type_: str = "about:blank",
    title: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> bytes:
    document: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        document["detail"] = detail
    if instance:
        document["instance"] = instance
    document.update(extensions)
    return msgspec.json.encode(document)


def problem(status: int, *, headers: Mapping[str, str] | None = None, **fields: Any) -> Response:
    return Response(
        problem_body(status, **fields), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    return problem(exc.status_code, detail=detail, instance=request.url.path, headers=exc.headers)


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    malformed = next((error for error in errors if error["type"] == "json_invalid"), None)
    if malformed is not None:
        reason = malformed.get("ctx", {}).get("error", "invalid JSON")
        return problem(
            400,
            type_=MALFORMED_JSON_PROBLEM,
            title="Malformed JSON",
            detail=f"the request body is not valid JSON: {reason}",
            instance=request.url.path,
        )
    fields = [
        {
            "field": _field_path(tuple(error["loc"][1:])) or str(error["loc"][0]),
            "in": str(error["loc"][0]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in errors
    ]
    names = ", ".join(sorted({field["field"] for field in fields}))
    return problem(
        422,
        type_=VALIDATION_PROBLEM,
        title="Validation failed",
        detail=f"invalid fields: {names}",
        instance=request.url.path,
        errors=fields,
    )


_REGISTRY_STATUS = {
    BrandNotFoundError: 404,
    BrandExistsError: 409,
    VersionConflictError: 412,
    BrandPausedError: 409,
}


async def handle_store_outage(request: Request, exc: Exception) -> Response:
    """503 with Retry-After while the store (or a primary of a cluster) is away, or does not
    confirm a write on its replicas: nothing was acknowledged, the client sends it again."""
    log.warning("http.store_unavailable", path=request.url.path, error=str(exc) or repr(exc))
    detail = (
        "the store could not confirm the write on its replicas: send it again"
        if isinstance(exc, NotReplicatedError)
        else "the store does not answer: try again"
    )
    return problem(
        503, title="Store unavailable", detail=detail, instance=request.url.path,
        headers={"Retry-After": "1"},
    )  # fmt: skip


async def handle_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    status = _REGISTRY_STATUS.get(type(exc), 409)
    extra: dict[str, Any] = {"slug": exc.slug}
    headers = None
    if isinstance(exc, VersionConflictError):
        headers = {"ETag": f'"{exc.current}"'}
    return problem(status, detail=str(exc), instance=request.url.path, headers=headers, **extra)
