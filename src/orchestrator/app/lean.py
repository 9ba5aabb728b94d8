"""Lean routes: plain Starlette routes for the hot paths, still described in the OpenAPI document.

A FastAPI route costs ~120 µs of framework work per request on these machines, a plain
Starlette route inside the same app ~35 µs (bench/http.py and docs/benchmarks.md). Hot routes
take the request, read their services from the lifespan state, and return pre-serialised bytes;
their OpenAPI operations are declared next to them and merged into ``/openapi.json``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send


class HotRequest(Protocol):
    """What a hot route reads of its request, whichever interface the server speaks: the
    lifespan's state, the path parameters and the headers (``ScopeRequest`` over ASGI,
    ``orchestrator.app.rsgi.RsgiRequest`` over RSGI)."""

    @property
    def state(self) -> Mapping[str, Any]: ...

    @property
    def path_params(self) -> Mapping[str, str]: ...

    def header(self, name: str) -> str | None:
        """The header's value (``name`` in lower case), or None."""
        ...


Endpoint = Callable[[HotRequest], Awaitable["Response | Prepared"]]
Schema = type[BaseModel] | type[msgspec.Struct]
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class LeanRoute:
    """One hot endpoint and its OpenAPI operation (``responses`` maps status to model or text)."""

    path: str
    endpoint: Endpoint
    summary: str
    tag: str
    method: str = "GET"
    responses: dict[int, Schema | str] = field(default_factory=dict)
    media_type: str = "application/json"

    def operation(self) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        for status, answer in self.responses.items():
            if isinstance(answer, str):
                responses[str(status)] = {"description": answer}
                continue
            content_type = "application/problem+json" if status >= 400 else self.media_type
            responses[str(status)] = {
                "description": answer.__doc__ or answer.__name__,
                "content": {content_type: {"schema": {"$ref": _REF.format(model=answer.__name__)}}},
            }
        return {
            "summary": self.summary,
            "description": self.endpoint.__doc__ or "",
            "operationId": self.endpoint.__name__,
            "tags": [self.tag],
            "responses": responses,
        }

    def models(self) -> list[Schema]:
        return [answer for answer in self.responses.values() if not isinstance(answer, str)]


class ScopeRequest:
    """A hot route's request over ASGI: read from the scope."""

    __slots__ = ("_scope",)

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    @property
    def state(self) -> Mapping[str, Any]:
        state: Mapping[str, Any] = self._scope["state"]
        return state

    @property
    def path_params(self) -> Mapping[str, str]:
        params: Mapping[str, str] = self._scope.get("path_params", {})
        return params

    def header(self, name: str) -> str | None:
        return header(self._scope, name.encode("latin-1"))


class _TemplatedRoute(Route):
    """A lean route as a Starlette Route that leaves itself in the scope, as FastAPI's own
    routes do, so that metrics and access logs label requests by route template. ``hot`` is
    its endpoint, which takes a ``HotRequest``."""

    def __init__(self, lean: LeanRoute) -> None:
        self.hot = lean.endpoint

        @functools.wraps(lean.endpoint)
        async def endpoint(request: Request) -> Response | Prepared:
            return await lean.endpoint(ScopeRequest(request.scope))

        super().__init__(lean.path, endpoint, methods=[lean.method])

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def documented(model: Schema) -> dict[str, Any]:
    """An OpenAPI response of a FastAPI route that answers ``model`` (a msgspec Struct),
    whose schema ``add_lean_routes(..., models=...)`` adds to the components."""
    return {
        "description": model.__doc__ or model.__name__,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class Prepared:
    """A response of ready parts (status, headers as text, body): what the hottest routes
    return, without building a Response and its headers per request. A server that takes a
    whole response in one call (``OneShot``) gets the headers as they are."""

    __slots__ = ("body", "headers", "status_code")  # as a Starlette Response names them

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.status_code = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.send(send)

    async def send(self, send: Send, extra: Sequence[tuple[str, str]] = ()) -> None:
        """Send it as ASGI messages, with ``extra`` headers after its own."""
        raw = encoded([*self.headers, *extra])
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


def encoded(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI carries them (from text, as RSGI and ``Prepared`` carry them)."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def decoded(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Headers as text, from ASGI's bytes."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value, read from the scope without building a Headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class LeanDispatch:
    """Finds a request's lean route before the framework does, and answers it (an ASGI app):
    hot routes skip the framework's own middleware layers and its routing over every included
    router. Errors go through the app's own exception handlers."""

    def __init__(
        self, routes: Sequence[LeanRoute], handlers: Mapping[type[Exception], ExceptionHandler]
    ) -> None:
        self._exact: dict[str, _TemplatedRoute] = {}
        self._templated: list[_TemplatedRoute] = []
        for lean in routes:
            route = _TemplatedRoute(lean)
            if route.param_convertors:
                self._templated.append(route)
            else:
                self._exact[lean.path] = route
        self._handlers = tuple(handlers.items())

    def match(self, scope: Scope) -> Matched | None:
        """The route and path parameters of ``scope``, or None (a method it does not serve
        too: the framework answers 405)."""
        return self.find(scope["path"], scope["method"])

    def find(self, path: str, method: str) -> Matched | None:
        """The route and path parameters of a request line, or None."""
        route = self._exact.get(path)
        params: dict[str, str] = {}
        if route is None:
            for candidate in self._templated:
                found = candidate.path_regex.match(path)
                if found is not None:
                    route, params = candidate, found.groupdict()
                    break
        if route is None or method not in (route.methods or ()):
            return None
        return route, params

    async def respond(
        self, matched: Matched, scope: Scope, receive: Receive, send: Send
    ) -> Response | Prepared:
        """The matched route's response (not sent yet), errors through the handlers."""
        route, params = matched
        scope["route"] = route
        scope["path_params"] = params
        try:
            return await route.hot(ScopeRequest(scope))
        except Exception as exc:
            handler = next((h for kind, h in self._handlers if isinstance(exc, kind)), None)
            if handler is None:
                raise
            return await handler(Request(scope, receive, send), exc)


Matched = tuple[_TemplatedRoute, dict[str, str]]


OneShot = Callable[[int, list[tuple[str, str]], bytes], None]
"""A server's call that sends a whole response at once: status, headers as text, body."""


class RequestLine(NamedTuple):
    """What metrics and logs need of a request answered without an ASGI scope."""

    method: str
    path: str
    scheme: str


class HotContext(Protocol):
    """What wraps a hot route's request: the request middleware's duties, done around
    ``LeanDispatch.respond`` (``orchestrator.app.middleware.HotRequestContext``)."""

    async def answer(
        self, lean: LeanDispatch, matched: Matched, scope: Scope, receive: Receive, send: Send
    ) -> None: ...

    async def answer_at_once(
        self, matched: Matched, request: HotRequest, line: RequestLine, respond: OneShot
    ) -> bool: ...


class LeanApp(FastAPI):
    """The FastAPI app, with its hot routes answered ahead of it: measured on ``GET /health``,
    the framework's own layers and its routing over the included routers took more than half
    of each request, and wrapping ``send`` for the response headers another quarter."""

    lean: LeanDispatch | None = None
    hot: HotContext | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None and self.lean is not None and scope["type"] == "http":
            matched = self.lean.match(scope)
            if matched is not None:
                scope["app"] = self
                await self.hot.answer(self.lean, matched, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def answer_at_once(
        self, line: RequestLine, request: Callable[[Matched], HotRequest], respond: OneShot
    ) -> bool:
        """Answer a hot route's request through ``respond``, for a server that takes a whole
        response in one call. False when nothing was sent: not a hot route, or the route
        failed (the app then answers the request, its handlers making the problem)."""
        if self.hot is None or self.lean is None:
            return False
        matched = self.lean.find(line.path, line.method)
        if matched is None:
            return False
        return await self.hot.answer_at_once(matched, request(matched), line, respond)


def add_lean_routes(
    app: FastAPI, routes: Sequence[LeanRoute], models: Sequence[Schema] = ()
) -> None:
    """Mount the routes (first, ahead of the included routers) and make ``app.openapi()``
    describe them and ``models`` (call once per app)."""
    for index, lean in enumerate(routes):
        app.router.routes.insert(index, _TemplatedRoute(lean))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _merged_schema(app, routes, models)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _merged_schema(
    app: FastAPI, routes: Sequence[LeanRoute], models: Sequence[Schema]
) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for lean in routes:
        operations = schema.setdefault("paths", {}).setdefault(lean.path, {})
        operations[lean.method.lower()] = lean.operation()
        for model in lean.models():
            schemas.update(_components(model))
    for model in models:
        schemas.update(_components(model))
    return schema


def _components(model: Schema) -> dict[str, Any]:
    """The model's JSON schema and those of the models it nests, as OpenAPI components."""
    if issubclass(model, msgspec.Struct):
        refs = _REF.replace("{model}", "{name}")
        _, components = msgspec.json.schema_components([model], ref_template=refs)
        return components
    document = model.model_json_schema(by_alias=True, ref_template=_REF)
    nested: dict[str, Any] = document.pop("$defs", {})
    return {**nested, model.__name__: document}
