"""The app served over granian's RSGI interface: hot routes answer from the RSGI request in one
call into the server; every other request reaches the ASGI app through a thin bridge.

Under ASGI a response costs two awaited sends into the server (start, then body), each a future
resolved by the server's Rust runtime, and a scope built per request; under RSGI a hot route
reads the request's headers where the server keeps them and its whole response is one
synchronous call. Together with the request context's own savings, the summary route's CPU per
request fell from ~124 to ~60 µs under wrk (docs/benchmarks.md). The bridge implements what the
app uses of ASGI 3 over HTTP: the scope, a streamed request body, ``http.disconnect``, one-shot
and streamed responses.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any

from granian._granian import RSGIHeaders as RsgiHeaders
from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIHTTPStreamTransport as HTTPStreamTransport
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian.rsgi import Scope as RsgiScope
from starlette.types import Message

from orchestrator.app.lean import LeanApp, Matched, RequestLine, decoded

_ASGI = {"version": "3.0", "spec_version": "2.3"}


class RsgiBridge:
    """granian's RSGI target for the app, whose lifespan already runs: ``state`` is what the
    lifespan yielded, copied into every request's scope as ASGI servers do. Hot routes answer
    in one ``response_bytes`` call; every other request goes through the app's ASGI stack."""

    def __init__(self, app: LeanApp, state: Mapping[str, Any]) -> None:
        self._app = app
        self._state = dict(state)

    async def __rsgi__(self, scope: RsgiScope, protocol: HTTPProtocol) -> None:
        if scope.proto != "http":  # the server is started without WebSockets
            return
        line = RequestLine(scope.method, scope.path, scope.scheme)
        state, headers = self._state, scope.headers

        def request(matched: Matched) -> RsgiRequest:
            return RsgiRequest(state, matched[1], headers)

        if await self._app.answer_at_once(line, request, protocol.response_bytes):
            return
        exchange = _Exchange(protocol)
        await self._app(asgi_scope(scope, self._state), exchange.receive, exchange.send)
        exchange.finish()


class RsgiRequest:
    """A hot route's request over RSGI: no ASGI scope is built for it."""

    __slots__ = ("_headers", "path_params", "state")

    def __init__(
        self, state: Mapping[str, Any], path_params: Mapping[str, str], headers: RsgiHeaders
    ) -> None:
        self.state = state
        self.path_params = path_params
        self._headers = headers

    def header(self, name: str) -> str | None:
        value: str | None = self._headers.get(name)
        return value


def asgi_scope(scope: RsgiScope, state: dict[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope of an RSGI request. granian hands over the path already
    percent-decoded (``raw_path`` is therefore left out) and drops header values that are not
    UTF-8."""
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "root_path": "",
        "query_string": scope.query_string.encode("latin-1"),
        "headers": [
            (name.encode("latin-1"), value.encode()) for name, value in scope.headers.items()
        ],
        "client": _address(scope.client),
        "server": _address(scope.server),
        "state": state.copy(),
    }


@functools.lru_cache(maxsize=4096)  # a connection's address, parsed once per connection or so
def _address(value: str) -> tuple[str, int] | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


_NOTHING, _STARTED, _STREAMING, _COMPLETE = range(4)


class _Exchange:
    """One request's ``receive`` and ``send``: the body as it arrives, then a wait for the
    client to go; a response with its whole body in one call, or a stream."""

    __slots__ = ("_body", "_body_done", "_headers", "_phase", "_protocol", "_status", "_stream")

    def __init__(self, protocol: HTTPProtocol) -> None:
        self._protocol = protocol
        self._body: AsyncIterator[bytes] | None = None
        self._body_done = False
        self._phase = _NOTHING
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: HTTPStreamTransport | None = None

    async def receive(self) -> Message:
        if not self._body_done:
            if self._body is None:
                self._body = aiter(self._protocol)
            try:
                chunk: bytes = await anext(self._body)
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        await self._protocol.client_disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._phase != _NOTHING:
                raise RuntimeError("the response has already started")
            self._status = message["status"]
            self._headers = decoded(message.get("headers", ()))
            self._phase = _STARTED
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._phase == _STARTED:
            if not more:
                self._protocol.response_bytes(self._status, self._headers, body)
                self._phase = _COMPLETE
                return
            self._stream = self._protocol.response_stream(self._status, self._headers)
            self._phase = _STREAMING
        elif self._phase != _STREAMING or self._stream is None:
            raise RuntimeError("a body without a response started, or after its end")
        if body:
            try:
                await self._stream.send_bytes(body)
            except ProtocolClosed as exc:  # ASGI apps expect an OSError when the client left
                raise OSError("the client disconnected") from exc
        if not more:
            self._phase = _COMPLETE

    def finish(self) -> None:
        """Answer for an app that returned without completing its response's start."""
        if self._phase == _NOTHING:
            self._protocol.response_empty(500, [])
        elif self._phase == _STARTED:
            self._protocol.response_bytes(self._status, self._headers, b"")
