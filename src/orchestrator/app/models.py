"""Documents of the HTTP API that belong to no single resource."""

from __future__ import annotations

from pydantic import BaseModel, Field

from orchestrator.types import CamelModel


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
