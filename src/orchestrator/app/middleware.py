"""Pure ASGI middleware around every request: request id, security headers, body limit,
access log and HTTP metrics, and a last-resort 500 problem that never leaks a traceback."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.app.lean import (
    HotRequest,
    LeanDispatch,
    Matched,
    OneShot,
    Prepared,
    RequestLine,
    decoded,
    encoded,
    header,
)
from orchestrator.app.problems import PROBLEM_JSON, problem_body
from orchestrator.metrics import Metrics

log = structlog.get_logger("orchestrator.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

# helmet's defaults, as header pairs built once.
_SECURITY_TEXT: list[tuple[str, str]] = list(
    {
        "content-security-policy": (
            "default-src 'self';base-uri 'self';font-src 'self' data:;form-action 'self';"
            "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
            "script-src-attr 'none';style-src 'self' 'unsafe-inline';connect-src 'self'"
        ),
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "origin-agent-cluster": "?1",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-dns-prefetch-control": "off",
        "x-download-options": "noopen",
        "x-frame-options": "SAMEORIGIN",
        "x-permitted-cross-domain-policies": "none",
        "x-xss-protection": "0",
    }.items()
)
_HSTS_TEXT = ("strict-transport-security", "max-age=31536000; includeSubDomains")


class _BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class RequestContextMiddleware:
    """The outermost layer of the application's own middleware."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._ids = _RequestIds()
        self._in_flight = metrics.http_in_flight
        self._record = _Recorder(metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope, self._ids)
        extra = encoded(_extra_text_headers(scope.get("scheme"), request_id))
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        self._in_flight.count += 1
        try:
            if _declared_length(scope) > self.max_body_bytes:
                await self._reject(send_with_headers, scope, 413)
            else:
                await self.app(scope, self._limited(receive), send_with_headers)
        except Exception:
            log.exception("http.unhandled", path=scope["path"])
            if not response_started:
                await self._reject(send_with_headers, scope, 500)
        finally:
            self._in_flight.count -= 1
            self._record.scoped(scope, request_id, status, time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError(limit)
            return message

        return limited_receive

    async def _reject(self, send: Send, scope: Scope, status: int) -> None:
        detail = f"the request body exceeds {self.max_body_bytes} bytes" if status == 413 else None
        await _problem_response(status, scope, detail).send(send)


class _Recorder:
    """A request's counter, latency histogram and access-log line."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._logs = log.is_enabled_for(logging.INFO)  # the level is set once, at start-up

    def scoped(self, scope: Scope, request_id: str, status: int, duration_s: float) -> None:
        """Record a request answered through the ASGI app."""
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        line = RequestLine(scope["method"], scope["path"], scope.get("scheme", "http"))
        self(line, template, request_id, status, duration_s)

    def __call__(
        self, line: RequestLine, template: str, request_id: str, status: int, duration_s: float
    ) -> None:
        method = line.method
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:  # labels() costs more than the update itself: look it up once
            children = self._children[key] = (
                self.metrics.http_requests.labels(method, template, str(status)),
                self.metrics.http_duration.labels(method, template),
            )
        children[0].inc()
        children[1].observe(duration_s)
        if not self._logs:
            return
        log.info(
            "http.request",
            method=method,
            route=template,
            path=line.path,
            status=status,
            duration_ms=round(duration_s * 1000, 3),
            request_id=request_id,
        )


class HotRequestContext:
    """The request middleware's duties for a hot route (``LeanApp``): the same request id,
    security headers, in-flight gauge, metrics and access log, but the headers are added to
    the response before it is sent instead of by wrapping ``send``, and the log context is not
    bound (hot routes do not log; an unexpected error is logged with its request id). Measured
    under load: the wrapping and binding cost the summary route half of its throughput."""

    def __init__(self, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self._ids = _RequestIds()
        self._in_flight = metrics.http_in_flight
        self._record = _Recorder(metrics)

    async def answer(
        self, lean: LeanDispatch, matched: Matched, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        response, request_id = await self._response(lean, matched, scope, receive, send)
        try:
            extra = _extra_text_headers(scope.get("scheme"), request_id)
            if isinstance(response, Prepared):
                await response.send(send, extra)
            else:
                response.raw_headers.extend(encoded(extra))
                await response(scope, receive, send)
        finally:
            duration_s = time.perf_counter() - started
            self._record.scoped(scope, request_id, response.status_code, duration_s)

    async def answer_at_once(
        self, matched: Matched, request: HotRequest, line: RequestLine, respond: OneShot
    ) -> bool:
        """The same for a request read without an ASGI scope, through a server call that
        takes the whole response (granian's RSGI): headers handed over as text, no send per
        part. False, with nothing sent, when the route raised or the body is too large: the
        app then answers the request, its exception handlers making the problem."""
        started = time.perf_counter()
        if _length(request.header("content-length")) > self.max_body_bytes:
            return False
        route, _ = matched
        self._in_flight.count += 1
        try:
            response = await route.hot(request)
        except Exception:
            return False
        finally:
            self._in_flight.count -= 1
        request_id = _valid_id(request.header("x-request-id")) or self._ids.next()
        extra = _extra_text_headers(line.scheme, request_id)
        if isinstance(response, Prepared):
            respond(response.status_code, [*response.headers, *extra], response.body)
        else:
            respond(
                response.status_code, [*decoded(response.raw_headers), *extra], bytes(response.body)
            )
        duration_s = time.perf_counter() - started
        self._record(line, route.path, request_id, response.status_code, duration_s)
        return True

    async def _response(
        self, lean: LeanDispatch, matched: Matched, scope: Scope, receive: Receive, send: Send
    ) -> tuple[Response | Prepared, str]:
        """The route's response (a problem when it fails) and the request's id."""
        request_id = _request_id(scope, self._ids)
        self._in_flight.count += 1
        try:
            if _declared_length(scope) > self.max_body_bytes:
                detail = f"the request body exceeds {self.max_body_bytes} bytes"
                return _problem_response(413, scope, detail), request_id
            return await lean.respond(matched, scope, receive, send), request_id
        except Exception:
            log.exception("http.unhandled", path=scope["path"], request_id=request_id)
            return _problem_response(500, scope), request_id
        finally:
            self._in_flight.count -= 1


def _extra_text_headers(scheme: str | None, request_id: str) -> list[tuple[str, str]]:
    extra = [("x-request-id", request_id), *_SECURITY_TEXT]
    if scheme == "https":
        extra.append(_HSTS_TEXT)
    return extra


def _problem_response(status: int, scope: Scope, detail: str | None = None) -> Prepared:
    body = problem_body(status, detail=detail, instance=scope["path"])
    headers = [
        ("content-type", PROBLEM_JSON),
        ("content-length", str(len(body))),
        ("connection", "close"),
    ]
    return Prepared(status, headers, body)


class _RequestIds:
    """32 hex digits: a random per-process prefix and a counter (no syscall per request)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight with problem+json."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode(errors="replace")
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
        }
        return Response(
            problem_body(response.status_code, detail=detail),
            status_code=response.status_code,
            headers=headers,
            media_type=PROBLEM_JSON,
        )


def _request_id(scope: Scope, ids: _RequestIds) -> str:
    return _valid_id(header(scope, b"x-request-id")) or ids.next()


def _valid_id(given: str | None) -> str | None:
    """A request id the client gave, when it is safe to echo and log."""
    return given if given is not None and _REQUEST_ID.match(given) else None


def _declared_length(scope: Scope) -> int:
    return _length(header(scope, b"content-length"))


def _length(declared: str | None) -> int:
    try:
        return int(declared) if declared is not None else 0
    except ValueError:
        return 0
