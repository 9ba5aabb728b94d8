"""The brand: what is monitored, validated once at the edge and stored as the API serves it.

Pure: no I/O. The stored document is the brand's camelCase JSON, so a read is the bytes Redis
returns. ``merge_patch`` implements RFC 7396 for PATCH.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from orchestrator.brand_secrets import MASK
from orchestrator.languages import ISO_639_1
from orchestrator.schedule import Cadence
from orchestrator.types import BrandStatus, CamelModel

SLUG_PATTERN = r"^[a-z0-9-]{1,64}$"
_SLUG_MAX = 64
READ_ONLY_FIELDS = ("slug", "createdAt", "updatedAt", "version")

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Header = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


def _iso_639_1(code: str) -> str:
    normalized = code.strip().lower()
    if normalized not in ISO_639_1:
        raise ValueError(f"{code!r} is not an ISO 639-1 language code")
    return normalized


Language = Annotated[str, AfterValidator(_iso_639_1)]


class StrictModel(CamelModel):
    """Unknown fields are errors, with their path."""

    model_config = CamelModel.model_config | {"extra": "forbid"}


class FeedOptions(StrictModel):
    headers: dict[str, Header] = Field(default_factory=dict, max_length=20)


class JsonFields(StrictModel):
    """Where each mention field is found in an item, as a dot path (``data.body``)."""

    id: str = "id"
    text: str = "text"
    url: str | None = "url"
    author: str | None = "author"
    created_at: str | None = "createdAt"
    language: str | None = "language"


class JsonOptions(StrictModel):
    items_path: str = Field("", description="dot path to the array of items; empty: the root")
    fields: JsonFields = Field(default_factory=JsonFields)
    headers: dict[str, Header] = Field(default_factory=dict, max_length=20)


class FileOptions(StrictModel):
    format: Literal["jsonl"] = "jsonl"


class FeedSource(StrictModel):
    """An RSS 2.0 or Atom feed."""

    type: Literal["rss", "atom"]
    url: AnyHttpUrl
    options: FeedOptions = Field(default_factory=FeedOptions)


class JsonSource(StrictModel):
    """JSON over HTTP, mapped to mentions by ``options.fields``."""

    type: Literal["json"]
    url: AnyHttpUrl
    options: JsonOptions = Field(default_factory=JsonOptions)


class FileSource(StrictModel):
    """A local JSON Lines file, one mention per line."""

    type: Literal["file"]
    path: str = Field(min_length=1, max_length=4096)
    options: FileOptions = Field(default_factory=FileOptions)


Source = Annotated[FeedSource | JsonSource | FileSource, Field(discriminator="type")]


SECRET_MIN_LENGTH = 16


def _secret(value: str) -> str:
    if len(value) < SECRET_MIN_LENGTH and value != MASK:
        raise ValueError(
            f"a secret has {SECRET_MIN_LENGTH} to 256 characters ({MASK}: the stored one)"
        )
    return value


class Webhook(StrictModel):
    """Where spike alerts are POSTed, signed with ``secret`` (HMAC-SHA256, ``X-Signature``).
    Reads show the secret as ``********``; sent back, it stands for the stored one."""

    url: AnyHttpUrl
    secret: Annotated[str, StringConstraints(max_length=256), AfterValidator(_secret)]

    def private_target(self) -> str | None:
        """Why the URL is refused at registration (no DNS lookup: its host is ``localhost`` or
        a literal non-public address), or None. Names are checked again at each delivery."""
        host = (urlsplit(str(self.url)).hostname or "").rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is a loopback name"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return None if address.is_global else f"{address} is not a public address"


class BrandSpec(StrictModel):
    """The settable part of a brand (PATCH merges into this)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    keywords: list[Keyword] = Field(min_length=1, max_length=100)
    exclude_keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    languages: list[Language] = Field(default_factory=list, max_length=50)
    sources: list[Source] = Field(default_factory=list, max_length=20)
    schedule_interval_sec: int = Field(300, ge=10, le=7 * 86400)
    chunk_size: int = Field(200, ge=1, le=5000)
    max_in_flight: int = Field(4, ge=1, le=64)
    alerts: list[Webhook] = Field(default_factory=list, max_length=10)
    status: BrandStatus = BrandStatus.ACTIVE

    @property
    def cadence(self) -> Cadence:
        return Cadence(self.chunk_size, self.schedule_interval_sec * 1000)

    @field_validator("keywords", "exclude_keywords")
    @classmethod
    def _unique_terms(cls, terms: list[str]) -> list[str]:
        """Drop repeats, case-insensitively, keeping the first spelling."""
        return list({term.casefold(): term for term in reversed(terms)}.values())[::-1]

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, codes: list[str]) -> list[str]:
        return list(dict.fromkeys(codes))


class BrandCreate(BrandSpec):
    """POST /v1/brands: a spec and, optionally, the slug (derived from the name otherwise)."""

    slug: Slug | None = None

    @model_validator(mode="after")
    def _derive_slug(self) -> BrandCreate:
        if self.slug is None:
            derived = slugify(self.name)
            if not derived:
                raise ValueError("cannot derive a slug from this name: give a slug")
            object.__setattr__(self, "slug", derived)
        return self


class Brand(BrandSpec):
    """A registered brand, as stored and served."""

    slug: Slug
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def search_text(self) -> str:
        """What ``GET /v1/brands?q=`` matches, lower case."""
        return "\n".join([self.slug, self.name, *self.keywords]).lower()

    def spec_document(self) -> dict[str, Any]:
        """The settable fields as JSON values, the base a merge patch applies to."""
        document = self.model_dump(mode="json", by_alias=True)
        for name in READ_ONLY_FIELDS:
            document.pop(name)
        return document


def now() -> datetime:
    return datetime.now(UTC)


def new_brand(spec: BrandCreate, at: datetime) -> Brand:
    assert spec.slug is not None
    fields = spec.model_dump(exclude={"slug"})
    return Brand(**fields, slug=spec.slug, created_at=at, updated_at=at, version=1)


def revised(brand: Brand, spec: BrandSpec, at: datetime) -> Brand:
    """The next version of ``brand`` with ``spec``'s settings."""
    return Brand(
        **spec.model_dump(),
        slug=brand.slug,
        created_at=brand.created_at,
        updated_at=at,
        version=brand.version + 1,
    )


def legacy_brand(slug: str, at: datetime) -> Brand:
    """A brand found only in the original's ``brands:list``: default settings, keyword = slug."""
    return Brand(slug=slug, name=slug, keywords=[slug], created_at=at, updated_at=at, version=1)


def slugify(name: str) -> str:
    """``"Nike Running!"`` → ``"nike-running"``: ASCII, lower case, digits and single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a member."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
