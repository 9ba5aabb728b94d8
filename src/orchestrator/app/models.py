"""Base of the API's Pydantic models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, frozen=True
    )

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class FieldError(ApiModel):
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
