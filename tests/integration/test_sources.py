"""Fetching sources over real HTTP: a local threaded server serves the fixtures in
``tests/fixtures/feeds``, redirects, oversize and slow bodies; file sources read real files."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from orchestrator.brand import FeedSource, FileSource, JsonSource
from orchestrator.sources import (
    AddressGuard,
    AddressRefusedError,
    FetchOptions,
    FetchResult,
    FetchState,
    HostLimiter,
    KeywordMatcher,
    SourceError,
    fetch,
    keep_matching,
)

pytestmark = pytest.mark.anyio  # at collection time, for the parametrized async tests

FEEDS = Path(__file__).parent.parent / "fixtures" / "feeds"
RSS_ETAG = '"rss-v1"'
ATOM_MODIFIED = "Thu, 02 May 2024 12:00:00 GMT"
BIG = 10 * 1024 * 1024 + 1  # one byte over the default limit


# --- the server -----------------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    httpd: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]


class _Server(ThreadingHTTPServer):
    feed_server: FeedServer


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.feed_server.seen.append(Seen(self.path, headers))
        route = urlsplit(self.path).path
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(route)  # the client may stop reading: past a limit, as it should

    def _route(self, route: str) -> None:
        if route == "/rss.xml":
            self._conditional(FEEDS / "rss.xml", "application/rss+xml", etag=RSS_ETAG)
        elif route == "/atom.xml":
            self._conditional(FEEDS / "atom.xml", "application/atom+xml", modified=ATOM_MODIFIED)
        elif route == "/items.json":
            self._send(200, (FEEDS / "items.json").read_bytes(), "application/json")
        elif route in ("/redirect", "/loop"):
            query = parse_qs(urlsplit(self.path).query)
            self.send_response(302)
            self.send_header("Location", query["to"][0] if "to" in query else "/loop")
            self.end_headers()
        elif route in ("/big", "/big-declared"):
            self._big(declared=route == "/big-declared")
        elif route == "/slow":
            time.sleep(1.0)
            self._send(200, b"[]", "application/json")
        else:
            self._send(404, b"not here", "text/plain")

    def _conditional(
        self, path: Path, content_type: str, etag: str | None = None, modified: str | None = None
    ) -> None:
        fresh = (etag is not None and self.headers.get("If-None-Match") == etag) or (
            modified is not None and self.headers.get("If-Modified-Since") == modified
        )
        self.send_response(304 if fresh else 200)
        if etag:
            self.send_header("ETag", etag)
        if modified:
            self.send_header("Last-Modified", modified)
        if fresh:
            self.end_headers()
            return
        body = path.read_bytes()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big(self, *, declared: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declared:
            self.send_header("Content-Length", str(BIG))
        self.end_headers()  # undeclared: HTTP/1.0, the body ends when the connection closes
        chunk = b" " * 65536
        for _ in range(BIG // len(chunk) + 1):
            self.wfile.write(chunk)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    httpd = _Server(("127.0.0.1", 0), Handler)
    feed_server = FeedServer(httpd)
    httpd.feed_server = feed_server
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield feed_server
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:  # no proxy from the environment
        yield http


LOOPBACK_OK = AddressGuard(allow_private=True)  # the server is on loopback


def fast_limiter() -> HostLimiter:
    return HostLimiter(1000.0)


async def get(
    source: FeedSource | JsonSource | FileSource,
    client: httpx.AsyncClient,
    state: FetchState | None = None,
    guard: AddressGuard = LOOPBACK_OK,
    options: FetchOptions | None = None,
) -> FetchResult:
    return await fetch(
        source,
        client,
        state or FetchState(),
        guard,
        fast_limiter(),
        options=options or FetchOptions(),
    )


def rss(url: str, **headers: str) -> FeedSource:
    return FeedSource.model_validate({"type": "rss", "url": url, "options": {"headers": headers}})


def atom(url: str) -> FeedSource:
    return FeedSource.model_validate({"type": "atom", "url": url})


def json_source(url: str, **options: object) -> JsonSource:
    return JsonSource.model_validate({"type": "json", "url": url, "options": options})


def by_id(result: FetchResult) -> dict[object, dict[str, object]]:
    return {mention["id"]: mention for mention in result.mentions}


# --- feeds ----------------------------------------------------------------------------------


async def test_an_rss_feed_becomes_mentions(server: FeedServer, client: httpx.AsyncClient) -> None:
    result = await get(rss(server.url("/rss.xml")), client)

    assert not result.not_modified
    assert result.skipped == 2  # one item without any id, one without any text
    mentions = by_id(result)
    assert list(mentions) == ["news-1", "https://news.example/alps", server.url("/cafe-acme")]
    assert mentions["news-1"] == {
        "id": "news-1",
        "text": "Acme launches the Rocket 2\n\nThe Acme Rocket 2 is here & it flies.",
        "source": "rss",
        "url": "https://news.example/acme-rocket-2",
        "author": "jane@news.example (Jane Doe)",
        "createdAt": "2024-04-30T07:15:00Z",  # +02:00 in the feed
        "language": "en",  # the channel's en-us
    }
    assert mentions["https://news.example/alps"]["createdAt"] == "2024-05-01T06:00:00Z"
    cafe = mentions[server.url("/cafe-acme")]  # no guid: the link, made absolute
    assert cafe["url"] == server.url("/cafe-acme")
    assert cafe["text"] == "Café Acme opens in Paris\n\nA fake Acme? No: the real one."
    assert "createdAt" not in cafe
    assert result.state.etag == RSS_ETAG


async def test_keyword_filtering_of_fetched_mentions(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    result = await get(rss(server.url("/rss.xml")), client)

    matcher = KeywordMatcher(["acme"], exclude_keywords=["fake"], languages=["en"])
    kept = keep_matching(result.mentions, matcher)

    # "Acmeville" is not the word "acme"; the café's entry says "fake"
    assert [mention["id"] for mention in kept] == ["news-1"]
    assert keep_matching(result.mentions, KeywordMatcher(["acme"], languages=["fr"])) == []


async def test_an_etag_makes_the_second_fetch_conditional(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    source = rss(server.url("/rss.xml"))
    first = await get(source, client)
    second = await get(source, client, first.state)

    assert server.seen[-1].headers["if-none-match"] == RSS_ETAG
    assert second.not_modified
    assert second.mentions == []
    assert second.state.etag == RSS_ETAG


async def test_an_atom_feed_and_last_modified(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    source = atom(server.url("/atom.xml"))
    first = await get(source, client)

    mentions = by_id(first)
    fusee = mentions["urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"]
    assert fusee == {
        "id": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "text": "Acme présente sa fusée\n\nLe nouveau produit d\u2019Acme étonne.",
        "source": "atom",
        "url": "https://blog.example/fusee",
        "author": "Jean Dupont",
        "createdAt": "2024-05-01T06:30:00Z",  # published, not updated
        "language": "fr",  # xml:lang
    }
    update = mentions["urn:uuid:2b8a2a4c-33c1-4b7c-bbbb-0c2fe14c9d1e"]
    assert update["createdAt"] == "2024-05-02T12:00:00Z"  # only updated
    assert update["text"] == "Only an update, <b> stays literal\n\nAcme content, no summary."
    assert first.state == FetchState(last_modified=ATOM_MODIFIED)

    second = await get(source, client, first.state)
    assert server.seen[-1].headers["if-modified-since"] == ATOM_MODIFIED
    assert "if-none-match" not in server.seen[-1].headers
    assert second.not_modified
    assert second.mentions == []
    assert second.state.last_modified == ATOM_MODIFIED


async def test_the_source_headers_are_sent(server: FeedServer, client: httpx.AsyncClient) -> None:
    await get(
        rss(server.url("/rss.xml"), **{"X-Api-Key": "k1", "User-Agent": "acme-bot/1"}), client
    )

    headers = server.seen[-1].headers
    assert headers["x-api-key"] == "k1"
    assert headers["user-agent"] == "acme-bot/1"
    assert "application/rss+xml" in headers["accept"]


# --- JSON -----------------------------------------------------------------------------------


async def test_json_mapped_by_nested_paths(server: FeedServer, client: httpx.AsyncClient) -> None:
    source = JsonSource.model_validate(
        {
            "type": "json",
            "url": server.url("/items.json"),
            "options": {
                "itemsPath": "data.results",
                "fields": {
                    "id": "meta.id",
                    "text": "body.text",
                    "url": "links.0.href",
                    "author": "user.name",
                    "createdAt": "ts",
                    "language": "lang",
                },
            },
        }
    )
    result = await get(source, client)

    assert result.mentions == [
        {
            "id": "j-1",
            "text": "Acme in JSON",
            "source": "json",
            "url": "https://api.example/j-1",
            "author": "Ann",
            "createdAt": "2024-05-01T08:00:00Z",  # epoch seconds
            "language": "en",  # en-GB
        },
        {  # a numeric id as text, trimmed text; a javascript: URL is dropped
            "id": "42",
            "text": "A numeric id for Acme",
            "source": "json",
            "createdAt": "2024-05-01T10:00:00Z",
        },
    ]
    assert result.skipped == 3  # no id, no text, not an object
    assert "application/json" in server.seen[-1].headers["accept"]


async def test_json_without_an_array_at_the_path(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    source = json_source(server.url("/items.json"), itemsPath="data")
    with pytest.raises(SourceError, match="no array of items at 'data'"):
        await get(source, client)


# --- files ----------------------------------------------------------------------------------


def line(mention_id: str, text: str) -> str:
    return json.dumps({"id": mention_id, "text": text, "source": "x", "ignored": 1}) + "\n"


async def test_a_file_source_reads_only_appended_lines(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "mentions.jsonl"
    path.write_text(line("1", "first Acme") + line("2", "second"), encoding="utf-8")
    source = FileSource(type="file", path=str(path))

    first = await get(source, client)
    assert [m["id"] for m in first.mentions] == ["1", "2"]
    assert first.mentions[0] == {"id": "1", "text": "first Acme", "source": "x"}
    assert first.state.offset == path.stat().st_size

    with path.open("a", encoding="utf-8") as handle:  # one valid, one invalid, one unfinished
        handle.write(line("3", "third") + "{not json\n" + '{"id": "4", "te')
    second = await get(source, client, first.state)
    assert [m["id"] for m in second.mentions] == ["3"]
    assert second.skipped == 1

    with path.open("a", encoding="utf-8") as handle:  # the unfinished line completed
        handle.write('xt": "fourth"}\n')
    third = await get(source, client, second.state)
    assert [m["id"] for m in third.mentions] == ["4"]

    again = await get(source, client, third.state)
    assert again.mentions == []
    assert again.state == third.state


async def test_a_truncated_or_replaced_file_is_read_again(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "mentions.jsonl"
    path.write_text(line("1", "one") + line("2", "two"), encoding="utf-8")
    source = FileSource(type="file", path=str(path))
    first = await get(source, client)

    path.write_text(line("3", "three"), encoding="utf-8")  # truncated: shorter than the offset
    assert [m["id"] for m in (await get(source, client, first.state)).mentions] == ["3"]

    replacement = tmp_path / "next.jsonl"
    replacement.write_text(line("5", "five") + line("6", "six") + line("7", "seven"), "utf-8")
    replacement.replace(path)  # rotated: another inode, longer than the offset
    assert [m["id"] for m in (await get(source, client, first.state)).mentions] == ["5", "6", "7"]


async def test_file_sources_missing_or_outside_the_root(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        await get(FileSource(type="file", path=str(tmp_path / "absent.jsonl")), client)
    inside = tmp_path / "root" / "ok.jsonl"
    inside.parent.mkdir()
    inside.write_text(line("1", "one"), encoding="utf-8")
    confined = FetchOptions(file_root=inside.parent)
    assert (
        len(
            (
                await get(FileSource(type="file", path=str(inside)), client, options=confined)
            ).mentions
        )
        == 1
    )
    escape = FileSource(type="file", path=str(inside.parent / ".." / "root" / ".." / "x.jsonl"))
    with pytest.raises(SourceError, match="outside the allowed directory"):
        await get(escape, client, options=confined)


# --- the guard, redirects and limits --------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://localhost/", "http://[::1]/"])
async def test_the_guard_refuses_loopback(url: str) -> None:
    with pytest.raises(AddressRefusedError, match="loopback"):
        await AddressGuard().check(url)


async def test_a_fetch_from_loopback_is_refused_before_any_request(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(AddressRefusedError, match="loopback"):
        await get(rss(server.url("/rss.xml")), client, guard=AddressGuard())
    assert server.seen == []


async def test_a_redirect_to_loopback_is_refused(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    # 127.0.0.1 stands for an allowed public host; the redirect leads to localhost (loopback).
    guard = AddressGuard(trusted_hosts=["127.0.0.1"])
    target = server.url("/rss.xml", host="localhost")
    with pytest.raises(AddressRefusedError, match=r"localhost resolves to .*loopback"):
        await get(rss(server.url(f"/redirect?to={target}")), client, guard=guard)
    assert server.paths() == [f"/redirect?to={target}"]  # the target was never asked


async def test_redirects_are_followed_without_the_source_headers_across_origins(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    target = server.url("/rss.xml", host="localhost")
    source = rss(server.url(f"/redirect?to={target}"), **{"X-Api-Key": "secret"})
    result = await get(source, client)

    assert server.paths() == [f"/redirect?to={target}", "/rss.xml"]
    assert server.seen[0].headers["x-api-key"] == "secret"
    assert "x-api-key" not in server.seen[1].headers  # another origin: not sent on
    assert len(result.mentions) == 3
    assert result.mentions[2]["url"] == server.url("/cafe-acme", host="localhost")


async def test_too_many_redirects(server: FeedServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(SourceError, match="more than 5 redirects"):
        await get(rss(server.url("/loop")), client)
    assert len(server.seen) == 6  # the request and five redirects


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_an_oversize_body_is_an_error(
    path: str, server: FeedServer, client: httpx.AsyncClient
) -> None:
    source = json_source(server.url(path))
    with pytest.raises(SourceError, match="over the 10485760-byte limit"):
        await get(source, client)


async def test_errors_are_source_errors(server: FeedServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(SourceError, match="HTTP 404") as raised:
        await get(rss(server.url("/missing.xml")), client)
    assert raised.value.source == server.url("/missing.xml")
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        await get(rss(server.url("/items.json")), client)
    slow = json_source(server.url("/slow"))
    with pytest.raises(SourceError, match="ReadTimeout"):
        await get(slow, client, options=FetchOptions(timeout_s=0.2))
    with pytest.raises(SourceError, match=r"within 0\.3 s"):
        await get(slow, client, options=FetchOptions(deadline_s=0.3))
    closed = server.url("/rss.xml").replace(str(server.port), "1")  # nothing listens on port 1
    with pytest.raises(SourceError, match="ConnectError"):
        await get(rss(closed), client)


async def test_fetches_to_one_host_are_spaced_by_the_limiter(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = HostLimiter(1.0, clock=lambda: 50.0, sleep=sleep)  # time stands still
    source = rss(server.url("/rss.xml"))
    for _ in range(3):
        await fetch(source, client, FetchState(), LOOPBACK_OK, limiter)
    assert slept == [1.0, 2.0]  # each waits for the next free second
    target = server.url("/rss.xml", host="localhost")
    await fetch(
        rss(server.url(f"/redirect?to={target}")), client, FetchState(), LOOPBACK_OK, limiter
    )
    assert slept == [1.0, 2.0, 3.0]  # 127.0.0.1 again; localhost, another host, waits for none
    assert len(server.seen) == 5
