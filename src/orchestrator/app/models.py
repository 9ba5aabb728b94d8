"""Documents of the HTTP API that belong to no single resource."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from orchestrator.brand import SLUG_PATTERN
from orchestrator.types import CamelModel

SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="the brand's slug")]


class FieldError(CamelModel):
    """One invalid field of a 422 problem."""

    field: str
    in_: str = Field(alias="in")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem details document (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's problem+json answers."""
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in statuses
    }
