"""A small typed client of the HTTP API (``/v1/brands``), for the CLI and for scripts.

Errors it raises, under the package's root ``OrchestratorError``::

    ClientError                 the API could not be used as asked
    ├── ApiUnreachableError     nothing answers at the URL (refused, timed out, bad address)
    └── ApiError                the API answered with an error; ``.problem`` holds its details

``Client(http)`` takes an ``httpx.Client``; ``Client.from_url()`` is the sugar that builds one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
from pydantic import ValidationError

from orchestrator.brand import Brand
from orchestrator.errors import OrchestratorError
from orchestrator.mentions import IngestOutcome, Mention, MentionPage
from orchestrator.types import BrandStatus, CamelModel, SourceRef

__all__ = [
    "ApiError",
    "ApiUnreachableError",
    "BrandDraft",
    "BrandPage",
    "Client",
    "ClientError",
    "FieldProblem",
    "Problem",
    "SourceRef",
    "problem_from_response",
]

DEFAULT_TIMEOUT_S = 10.0
_BRANDS = "/v1/brands"

M = TypeVar("M", bound=CamelModel)


class ClientError(OrchestratorError):
    """The API could not be used as asked."""


class ApiUnreachableError(ClientError):
    """Nothing answers at the API's URL; the message names it."""


class FieldProblem(msgspec.Struct, frozen=True):
    """One invalid field of a 422 problem: its path, where it was (body, query...) and why."""

    field: str
    message: str
    in_: str = msgspec.field(default="body", name="in")
    type: str = ""


class Problem(msgspec.Struct, frozen=True):
    """An RFC 9457 problem details document; unknown members are ignored."""

    title: str
    status: int
    detail: str | None = None
    type: str = "about:blank"
    instance: str | None = None
    errors: tuple[FieldProblem, ...] = ()


class ApiError(ClientError):
    """The API answered with an error status; ``str()`` is ``title: detail``."""

    def __init__(self, problem: Problem) -> None:
        message = f"{problem.title}: {problem.detail}" if problem.detail else problem.title
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class BrandDraft:
    """A brand to create. ``None`` leaves a setting to the server's default; the server
    validates everything, so its messages are the ones the user sees."""

    name: str
    keywords: tuple[str, ...]
    slug: str | None = None
    exclude_keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    schedule_interval_sec: int | None = None
    chunk_size: int | None = None
    max_in_flight: int | None = None
    status: BrandStatus = BrandStatus.ACTIVE

    def to_document(self) -> dict[str, Any]:
        """The ``POST /v1/brands`` body, camelCase, without the settings left to defaults."""
        document: dict[str, Any] = {
            "name": self.name,
            "slug": self.slug,
            "keywords": list(self.keywords),
            "excludeKeywords": list(self.exclude_keywords),
            "languages": list(self.languages),
            "sources": [source.to_document() for source in self.sources],
            "scheduleIntervalSec": self.schedule_interval_sec,
            "chunkSize": self.chunk_size,
            "maxInFlight": self.max_in_flight,
            "status": self.status.value,
        }
        return {name: value for name, value in document.items() if value is not None}


class BrandPage(CamelModel):
    """One page of ``GET /v1/brands``: follow ``next_cursor`` until it is ``None``."""

    items: list[Brand]
    next_cursor: str | None


def problem_from_response(status: int, content_type: str, body: bytes) -> Problem:
    """The problem an error response describes; a made-up one when it is not problem JSON
    (a proxy's HTML page, say): the status phrase and the start of the body."""
    if "json" in content_type:
        try:
            return msgspec.json.decode(body, type=Problem)
        except msgspec.DecodeError:
            pass
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = f"HTTP {status}"
    text = " ".join(body.decode(errors="replace").split())[:200]
    return Problem(title=title, status=status, detail=text or None)


class Client:
    """The brand registry over HTTP. Every method raises ``ClientError`` on failure."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @classmethod
    def from_url(
        cls, url: str, *, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Client:
        """A client of the API at ``url``, sending ``api_key`` as a bearer key when given."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return cls(httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def create_brand(self, draft: BrandDraft) -> Brand:
        return self._brand(self._send("POST", _BRANDS, json=draft.to_document()))

    def get_brand(self, slug: str) -> Brand:
        return self._brand(self._send("GET", _path(slug)))

    def pause_brand(self, slug: str) -> Brand:
        return self._brand(self._send("POST", f"{_path(slug)}/pause"))

    def resume_brand(self, slug: str) -> Brand:
        return self._brand(self._send("POST", f"{_path(slug)}/resume"))

    def delete_brand(self, slug: str, *, purge: bool = False) -> None:
        self._send("DELETE", _path(slug), params={"purge": "true" if purge else "false"})

    def list_brands(
        self,
        *,
        status: BrandStatus | None = None,
        query: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> BrandPage:
        """One page of brands in slug order."""
        params: dict[str, str | int] = {"limit": limit}
        optional = {"status": status.value if status else None, "q": query, "cursor": cursor}
        params.update({name: value for name, value in optional.items() if value is not None})
        response = self._send("GET", _BRANDS, params=params)
        return self._decode(BrandPage, response)

    def iter_brands(
        self, *, status: BrandStatus | None = None, query: str | None = None, page_size: int = 100
    ) -> Iterator[Brand]:
        """Every brand that matches, page after page, following ``nextCursor``."""
        cursor: str | None = None
        while True:
            page = self.list_brands(status=status, query=query, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def add_mentions(self, slug: str, lines: Sequence[bytes]) -> IngestOutcome:
        """Send up to 5,000 mentions as NDJSON (each line one mention's JSON)."""
        response = self._send(
            "POST",
            f"{_path(slug)}/mentions",
            content=b"\n".join(lines),
            headers={"content-type": "application/x-ndjson"},
        )
        return msgspec.json.decode(response.content, type=IngestOutcome)

    def list_mentions(
        self, slug: str, *, after: str | None = None, limit: int = 100
    ) -> tuple[list[Mention], str | None]:
        """Mentions after stream id ``after`` (``$``: only new ones), and where to read on."""
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        response = self._send("GET", f"{_path(slug)}/mentions", params=params)
        page = msgspec.json.decode(response.content, type=MentionPage)
        return [item.mention for item in page.items], page.next_after

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            timeout_s = self.http.timeout.read
            raise ApiUnreachableError(
                f"{self.http.base_url} did not answer within {timeout_s}s"
            ) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ApiUnreachableError(f"cannot reach {self.http.base_url}: {reason}") from None
        if response.is_error:
            content_type = response.headers.get("content-type", "")
            raise ApiError(
                problem_from_response(response.status_code, content_type, response.content)
            )
        return response

    def _brand(self, response: httpx.Response) -> Brand:
        return self._decode(Brand, response)

    def _decode(self, model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ClientError(
                f"unexpected answer from {response.request.url}: {exc.error_count()} invalid fields"
            ) from None


def _path(slug: str) -> str:
    return f"{_BRANDS}/{quote(slug, safe='')}"
