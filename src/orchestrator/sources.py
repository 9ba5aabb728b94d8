"""Collection's I/O and matching core: fetch a brand's source, keep the mentions it is about.

``fetch`` reads one source (an RSS/Atom feed or JSON over HTTP, or a local JSON Lines file) from
where the previous run left it (``FetchState``: the HTTP validators, or the file offset) and
returns its mentions as ingestion accepts them; ``KeywordMatcher`` (with ``keep_matching``)
decides which of them are the brand's. Parsing and matching are pure and live in
``orchestrator.feeds``; this module is the I/O. HTTP is guarded: every hop's address
is checked by an ``AddressGuard``, requests to one host are spaced by a ``HostLimiter``, and
time, size and redirects are bounded (``FetchOptions``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from orchestrator.brand import FeedSource, FileSource, JsonSource
from orchestrator.feeds import (
    KeywordMatcher,
    Mention,
    Parsed,
    ParseError,
    keep_matching,
    parse_feed,
    parse_json,
    parse_jsonl,
)

AnySource = FeedSource | JsonSource | FileSource

_FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
_JSON_ACCEPT = "application/json, */*;q=0.5"


class SourceError(Exception):
    """A source could not be read: unreachable, refused, too large, or not what it claims."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class AddressRefusedError(SourceError):
    """The guard refused a URL: its scheme, or an address its host resolves to."""


# --- the address guard ----------------------------------------------------------------------

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port)`` → the IP addresses the host resolves to, as text."""


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the event loop's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]  # drop an IPv6 zone


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be fetched from, or None when it is public unicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback; Python 3.11 disagrees
    for reason in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{reason}"):
            return reason.replace("_", "-")
    return None if address.is_global else "not-global"  # e.g. 100.64.0.0/10, shared NAT space


class AddressGuard:
    """Refuses URLs that are not http(s), or whose host resolves to an address that is not
    public: loopback, private, link-local, multicast, reserved, unspecified or otherwise not
    global (checked for every address the name resolves to, IPv4-mapped IPv6 unwrapped).

    ``allow_private=True`` turns the address check off (tests, an on-premises deployment);
    ``trusted_hosts`` exempts named hosts only (an internal mirror), every other one checked.

    Known limitation: the check resolves the name and the HTTP client resolves it again to
    connect, so a name whose DNS answer changes in between (DNS rebinding, a short TTL) can
    still reach a refused address. Closing that gap needs connecting to the checked address
    itself (a custom transport); an egress firewall is the dependable control.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        trusted_hosts: Iterable[str] = (),
        resolve: Resolver = resolve_host,
    ) -> None:
        self.allow_private = allow_private
        self._trusted = frozenset(host.lower().rstrip(".") for host in trusted_hosts)
        self._resolve = resolve

    async def check(self, url: httpx.URL | str) -> None:
        """Return when ``url`` may be fetched; AddressRefusedError otherwise."""
        try:
            target = httpx.URL(url) if isinstance(url, str) else url
        except httpx.InvalidURL as exc:
            raise AddressRefusedError(str(url), f"invalid URL: {exc}") from None
        label = str(target)
        if target.scheme not in ("http", "https"):
            raise AddressRefusedError(label, f"scheme {target.scheme!r} is not http or https")
        host = target.raw_host.decode("ascii").lower().rstrip(".")  # IDNA: as httpx connects
        if not host:
            raise AddressRefusedError(label, "no host")
        if self.allow_private or not self._trusted.isdisjoint((host, target.host.rstrip("."))):
            return
        port = target.port or (443 if target.scheme == "https" else 80)
        for address in await self._addresses(label, host, port):
            reason = _forbidden(address)
            if reason is not None:
                raise AddressRefusedError(
                    label, f"{host} resolves to {address}, a {reason} address"
                )

    async def _addresses(
        self, label: str, host: str, port: int
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            found = await self._resolve(host, port)
        except OSError as exc:
            raise AddressRefusedError(label, f"cannot resolve {host}: {exc}") from None
        if not found:
            raise AddressRefusedError(label, f"{host} resolves to no address")
        try:
            return [ipaddress.ip_address(text) for text in found]
        except ValueError as exc:
            raise AddressRefusedError(label, f"unusable address for {host}: {exc}") from None


# --- the host limiter -----------------------------------------------------------------------


class HostLimiter:
    """At most ``rate`` requests per second to each host, spaced evenly (1/rate apart).

    A caller reserves the host's next free slot before it sleeps, so concurrent callers queue
    in order without a lock. Per instance: share one between the fetches it should pace (it
    does not coordinate separate processes). ``clock`` and ``sleep`` are injectable for tests.
    """

    _PRUNE_AT = 1024  # hosts remembered before the past ones are forgotten

    def __init__(
        self,
        rate: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}

    async def acquire(self, host: str) -> None:
        """Wait until a request to ``host`` is allowed, and take that slot."""
        key = host.lower()
        now = self._clock()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self.interval
        if len(self._next) > self._PRUNE_AT:
            self._forget_before(now)
        if slot > now:
            await self._sleep(slot - now)

    def _forget_before(self, now: float) -> None:
        for host in [host for host, free in self._next.items() if free <= now]:
            del self._next[host]


# --- fetching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchState:
    """Where the previous fetch of a source left off: HTTP validators, or a file position."""

    etag: str | None = None
    last_modified: str | None = None
    offset: int = 0  # files: bytes already read
    file_id: str | None = None  # files: device and inode; another file restarts at 0

    def to_document(self) -> dict[str, str | int]:
        document: dict[str, str | int] = {"offset": self.offset}
        for name in ("etag", "last_modified", "file_id"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, object]) -> FetchState:
        def text(name: str) -> str | None:
            value = document.get(name)
            return value if isinstance(value, str) else None

        offset = document.get("offset")
        return cls(
            etag=text("etag"),
            last_modified=text("last_modified"),
            offset=offset if isinstance(offset, int) and offset >= 0 else 0,
            file_id=text("file_id"),
        )


@dataclass(frozen=True)
class FetchResult:
    mentions: list[Mention]
    not_modified: bool
    state: FetchState
    skipped: int = 0  # items without an id or text, invalid lines


@dataclass(frozen=True)
class FetchOptions:
    timeout_s: float = 10.0  # connect, each read, each write, pool wait
    deadline_s: float = 30.0  # each request, from resolving its host to its last byte
    max_bytes: int = 10 * 1024 * 1024  # decoded body; for files, read per call
    max_redirects: int = 5
    file_root: Path | None = None  # when set, file sources must be inside it
    extra_headers: Mapping[str, str] = field(default_factory=dict)  # e.g. a User-Agent


DEFAULT_OPTIONS = FetchOptions()


async def fetch(  # noqa: PLR0913 - the brief's signature, plus the limits
    source: AnySource,
    client: httpx.AsyncClient,
    state: FetchState,
    guard: AddressGuard,
    limiter: HostLimiter,
    *,
    options: FetchOptions = DEFAULT_OPTIONS,
) -> FetchResult:
    """Read ``source`` from ``state`` on: its mentions (unfiltered) and the state to keep.

    HTTP: conditional on the state's validators (a 304 gives ``not_modified`` and no
    mentions). Files: the complete lines appended since the state's offset. SourceError when
    the source cannot be read or is not what its type says.
    """
    if isinstance(source, FileSource):
        return await asyncio.to_thread(_read_file, source, state, options)
    hop = _Hop(guard, limiter, options, frozenset(name.lower() for name in source.options.headers))
    return await _fetch_http(source, client, state, hop)


@dataclass(frozen=True)
class _Hop:
    """What every request of a fetch goes through."""

    guard: AddressGuard
    limiter: HostLimiter
    options: FetchOptions
    own_headers: frozenset[str]  # the source's headers: not sent past a cross-origin redirect


@dataclass(frozen=True)
class _Download:
    status: int
    url: str
    headers: httpx.Headers
    body: bytes


async def _fetch_http(
    source: FeedSource | JsonSource, client: httpx.AsyncClient, state: FetchState, hop: _Hop
) -> FetchResult:
    label = str(source.url)
    try:
        download = await _download(label, client, _request_headers(source, state, hop), hop)
    except TimeoutError:
        raise SourceError(label, f"no complete answer within {hop.options.deadline_s} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SourceError(label, f"{type(exc).__name__}: {exc}") from None
    validators = FetchState(
        etag=download.headers.get("etag"), last_modified=download.headers.get("last-modified")
    )
    if download.status == 304:  # a 304 may omit validators: keep the ones that earned it
        kept = FetchState(
            validators.etag or state.etag, validators.last_modified or state.last_modified
        )
        return FetchResult([], True, kept)
    try:
        parsed = await asyncio.to_thread(_parse, source, download)  # up to 10 MB: off the loop
    except ParseError as exc:
        raise SourceError(label, str(exc)) from None
    return FetchResult(parsed.mentions, False, validators, parsed.skipped)


def _request_headers(
    source: FeedSource | JsonSource, state: FetchState, hop: _Hop
) -> dict[str, str]:
    accept = _JSON_ACCEPT if isinstance(source, JsonSource) else _FEED_ACCEPT
    headers = {"accept": accept, **hop.options.extra_headers, **source.options.headers}
    if state.etag:
        headers["if-none-match"] = state.etag
    if state.last_modified:
        headers["if-modified-since"] = state.last_modified
    return headers


def _parse(source: FeedSource | JsonSource, download: _Download) -> Parsed:
    if isinstance(source, JsonSource):
        options = source.options
        return parse_json(download.body, items_path=options.items_path, fields=options.fields)
    content_type = download.headers.get("content-type")
    return parse_feed(download.body, kind=source.type, url=download.url, content_type=content_type)


async def _download(
    label: str, client: httpx.AsyncClient, headers: dict[str, str], hop: _Hop
) -> _Download:
    """GET with redirects followed by hand, so that the guard and the limiter see each hop.

    The deadline covers each hop from its address check to its last byte, not the wait for
    the limiter: fetches queued behind a slow host do not time out for waiting their turn.
    """
    request = client.build_request("GET", label, headers=headers, timeout=hop.options.timeout_s)
    origin = request.url
    for _ in range(hop.options.max_redirects + 1):
        await hop.limiter.acquire(request.url.host)
        async with asyncio.timeout(hop.options.deadline_s):
            await hop.guard.check(request.url)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if not (response.is_redirect and response.next_request is not None):
                    return await _complete(label, response, hop.options.max_bytes)
                request = _next_hop(response.next_request, origin, hop.own_headers)
            finally:
                await response.aclose()
    raise SourceError(label, f"more than {hop.options.max_redirects} redirects")


def _next_hop(request: httpx.Request, origin: httpx.URL, own: frozenset[str]) -> httpx.Request:
    """The redirect's request, without the source's own headers once it leaves the origin:
    they may carry credentials, and httpx drops only Authorization."""
    if (request.url.scheme, request.url.host, request.url.port) != (
        origin.scheme, origin.host, origin.port,
    ):  # fmt: skip
        for name in own:
            request.headers.pop(name, None)
    return request


async def _complete(label: str, response: httpx.Response, max_bytes: int) -> _Download:
    status = response.status_code
    if status == 304:
        body = b""
    elif 200 <= status < 300:
        body = await _read_body(label, response, max_bytes)
    else:
        raise SourceError(label, f"HTTP {status} from {response.url}")
    return _Download(status, str(response.url), response.headers, body)


async def _read_body(label: str, response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(label, f"body of {declared} bytes is over the {max_bytes}-byte limit")
    body = bytearray()
    async for chunk in response.aiter_bytes():  # decoded: a compressed bomb stops here too
        body += chunk
        if len(body) > max_bytes:
            raise SourceError(label, f"body is over the {max_bytes}-byte limit")
    return bytes(body)


# --- files ----------------------------------------------------------------------------------


def _read_file(source: FileSource, state: FetchState, options: FetchOptions) -> FetchResult:
    """The complete lines appended since ``state.offset`` (at most ``max_bytes`` per call; a
    line still being written waits for its newline). A truncated or replaced file (smaller
    than the offset, or another inode) is read from the start."""
    path = _allowed_path(source.path, options.file_root)
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            file_id = f"{stat.st_dev}:{stat.st_ino}"
            same = state.file_id in (None, file_id) and state.offset <= stat.st_size
            offset = state.offset if same else 0
            handle.seek(offset)
            chunk = handle.read(options.max_bytes)
    except OSError as exc:
        raise SourceError(source.path, f"cannot read: {exc.strerror or exc}") from None
    complete, consumed = _complete_lines(chunk, options.max_bytes)
    parsed = parse_jsonl(complete)
    new_state = replace(state, offset=offset + consumed, file_id=file_id)
    return FetchResult(parsed.mentions, False, new_state, parsed.skipped)


def _complete_lines(chunk: bytes, max_bytes: int) -> tuple[bytes, int]:
    """The chunk up to its last newline and its length. A chunk without one that fills the
    read is a line over the limit: consumed (and skipped as invalid) so that reading moves on.
    """
    end = chunk.rfind(b"\n")
    if end >= 0:
        return chunk[: end + 1], end + 1
    if len(chunk) >= max_bytes:
        return chunk, len(chunk)
    return b"", 0


def _allowed_path(path: str, root: Path | None) -> Path:
    candidate = Path(path)
    if root is None:
        return candidate
    resolved, base = candidate.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise SourceError(path, f"outside the allowed directory {base}")
    return resolved


__all__ = [
    "DEFAULT_OPTIONS",
    "AddressGuard",
    "AddressRefusedError",
    "AnySource",
    "FetchOptions",
    "FetchResult",
    "FetchState",
    "HostLimiter",
    "KeywordMatcher",
    "Mention",
    "SourceError",
    "fetch",
    "keep_matching",
    "resolve_host",
]
