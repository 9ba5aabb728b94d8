"""Bearer-key checks: API_KEY guards every mutating request, READ_API_KEY (when set) reads."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import Request

from orchestrator.app.deps import ServicesDep
from orchestrator.config import Settings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="orchestrator"'}


def _presented(request: Request) -> bytes | None:
    return _bearer(request.headers.get("authorization", ""))


def _bearer(authorization: str) -> bytes | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" and token.strip() else None


def matches(token: bytes | None, keys: list[SecretStr | None]) -> bool:
    """Constant-time comparison against every configured key."""
    matched = False
    for key in keys:
        if key is not None and token is not None:
            matched |= hmac.compare_digest(token, key.get_secret_value().encode())
    return matched


def _deny(token: bytes | None) -> HTTPException:
    detail = "a valid 'Authorization: Bearer <key>' header is required"
    if token is not None:
        detail = "the bearer key is not valid"
    return HTTPException(401, detail, headers=_CHALLENGE)


async def require_write(request: Request, services: ServicesDep) -> None:
    key = services.settings.api_key
    if key is not None and not matches(token := _presented(request), [key]):
        raise _deny(token)


async def require_read(request: Request, services: ServicesDep) -> None:
    authorize_read(request.headers.get("authorization"), services.settings)


def authorize_read(authorization: str | None, settings: Settings) -> None:
    """401 (an HTTPException) unless reads are open or ``authorization`` (the header) carries
    a valid key; for lean routes, which take no dependencies."""
    if settings.read_api_key is None:
        return
    token = _bearer(authorization or "")
    if not matches(token, [settings.read_api_key, settings.api_key]):
        raise _deny(token)


WriteAccess = Annotated[None, Depends(require_write)]
ReadAccess = Annotated[None, Depends(require_read)]
