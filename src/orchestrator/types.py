"""Types shared across the package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A Pydantic model that is camelCase on the wire and snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


ScriptArg = bytes | str | int | float
"""What a Lua script accepts as an argument."""


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes; some typings say str)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class MergeRule(StrEnum):
    """How cluster centroids are compared (docs/aggregation.md)."""

    COSINE = "cosine"  # raw cosine, the original's rule
    CENTRED = "centred"  # cosine after subtracting the brand's mean centroid


class BrandStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


SourceType = Literal["rss", "atom", "json", "file"]


@dataclass(frozen=True)
class SourceRef:
    """Where mentions come from: a feed or JSON URL, or a local JSON Lines file."""

    type: SourceType
    location: str

    def to_document(self) -> dict[str, str]:
        where = "path" if self.type == "file" else "url"
        return {"type": self.type, where: self.location}
