"""The pure parts of collection's sources: the keyword matcher, the parsers, the address guard
(with a fake resolver) and the host limiter (with a fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from orchestrator.brand import BrandSpec, JsonFields
from orchestrator.feeds import html_to_text, mention_from, parse_json, parse_jsonl, walk
from orchestrator.sources import (
    AddressGuard,
    AddressRefusedError,
    FetchState,
    HostLimiter,
    KeywordMatcher,
    keep_matching,
)

# Marked here, not only by the conftest's hook: parametrized async tests need the mark at
# collection time.
pytestmark = pytest.mark.anyio

# --- the keyword matcher --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keywords", "excluded", "text", "matches"),
    [
        (["ace"], [], "Ace wins the cup", True),
        (["ace"], [], "a nice place", False),  # whole words only
        (["ace"], [], "aces high", False),
        (["ace"], [], "ACE!", True),
        (["ace"], [], "(ace)", True),
        (["ace"], [], "ace_tool", False),  # _ continues a word
        (["Nike"], [], "nike, NIKE and Nike", True),
        (["nike"], [], "", False),
        (["air max"], [], "the new Air  Max 90", True),  # a phrase: its words, any spacing
        (["air max"], [], "air\nmax", True),
        (["air max"], [], "the air is max", False),
        (["air max"], [], "airmax", False),
        (['"air max"'], [], "Air Max", True),  # quoted: a phrase
        (['"air max"'], [], "max air", False),
        (['"nike"'], [], "Nike shoes", True),  # quoted single word
        (["\u201cair max\u201d"], [], "air max", True),  # typographic quotes
        (["café"], [], "Le Café de Flore", True),  # unicode, case-folded
        (["café"], [], "le cafe", False),
        (["cafe"], [], "le café", False),
        (["café"], [], "cafe\u0301 noir", True),  # decomposed é, normalized
        (["cafe"], [], "cafe\u0301 noir", False),  # the combining mark continues the word
        (["straße"], [], "STRASSE 5", True),  # full case folding
        (["\uff4e\uff49\uff4b\uff45"], [], "nike", True),  # NFKC: full-width letters
        (["nike"], [], "Nike\u00a0Running", True),  # no-break space is a boundary
        (["nike running"], [], "Nike\u00a0Running", True),
        (["東京"], [], "今日は 東京 で", True),
        (["c++"], [], "I like C++ a lot", True),  # keywords ending in punctuation
        (["c++"], [], "c+++", True),
        (["#acme"], [], "love #Acme!", True),
        (["acme"], ["fake"], "Acme is great", True),
        (["acme"], ["fake"], "a fake Acme", False),  # an exclusion wins
        (["acme"], ["fake"], "Acme fakes", True),  # exclusions are whole words too
        (["acme"], ["not acme"], "this is not Acme", False),  # phrase exclusion
        (["acme", "roadrunner"], [], "beep beep roadrunner", True),  # any keyword
        (["nike", "nike air"], [], "nike airs", True),  # the shorter keyword still matches
        (["  "], [], "anything", False),  # nothing to match
        (['""'], [], '""', False),
    ],
)
def test_keyword_matching(
    keywords: list[str], excluded: list[str], text: str, matches: bool
) -> None:
    assert KeywordMatcher(keywords, excluded).matches(text, None) is matches


@pytest.mark.parametrize(
    ("languages", "language", "matches"),
    [
        ([], "de", True),  # no languages: any
        (["en"], "en", True),
        (["en"], "EN", True),
        (["en"], "en-US", True),
        (["en"], "en_GB", True),
        (["en"], "de", False),
        (["en", "de"], "de", True),
        (["en"], None, True),  # unknown language: kept
    ],
)
def test_language_filter(languages: list[str], language: str | None, matches: bool) -> None:
    assert KeywordMatcher(["acme"], [], languages).matches("Acme", language) is matches


def test_the_matcher_for_a_brand_and_keep_matching() -> None:
    spec = BrandSpec(
        name="Acme", keywords=["acme", '"road runner"'], exclude_keywords=["fake"], languages=["en"]
    )
    matcher = KeywordMatcher.for_brand(spec)
    mentions: list[dict[str, object]] = [
        {"id": "1", "text": "Acme rocks", "language": "en"},
        {"id": "2", "text": "Acme rocks", "language": "fr"},
        {"id": "3", "text": "a fake acme"},
        {"id": "4", "text": "the Road Runner again"},
        {"id": "5", "text": "a placebo"},
        {"id": "6", "text": "acme", "language": 7},  # a non-text language is unknown
    ]
    assert [m["id"] for m in keep_matching(mentions, matcher)] == ["1", "4", "6"]


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("a&amp;b &lt;c&gt; &eacute; &#8217;", "a&b <c> é \u2019"),
        ("<p>one</p><p>two</p>", "one two"),
        ("line<br>break", "line break"),
        ("<script>alert(1)</script>visible<style>p{}</style>", "visible"),
        ("  lots \n of\t space  ", "lots of space"),
        ("unclosed <b>bold", "unclosed bold"),
        ("x < y", "x < y"),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("value", "created_at"),
    [
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00Z"),  # naive: UTC
        ("2024-05-01T10:00:00.250Z", "2024-05-01T10:00:00.250000Z"),
        ("Wed, 01 May 2024 10:00:00 GMT", "2024-05-01T10:00:00Z"),  # RFC 2822
        (1714557600, "2024-05-01T10:00:00Z"),  # epoch seconds
        (1714557600000, "2024-05-01T10:00:00Z"),  # epoch milliseconds
        ("yesterday", None),
        (True, None),
        (None, None),
    ],
)
def test_created_at_is_utc_rfc_3339(value: object, created_at: str | None) -> None:
    mention = mention_from({"id": "a", "text": "t", "createdAt": value}, "json")
    assert mention is not None
    assert mention.get("createdAt") == created_at


def test_mention_normalization() -> None:
    mention = mention_from(
        {
            "id": "x" * 250,
            "text": "  " + "y" * 20_000,
            "source": "Not A Name",
            "url": "ftp://example.org/file",
            "author": "  Ann  ",
            "language": "pt-BR",
            "metadata": {"k": 1},
        },
        "file",
    )
    assert mention is not None
    assert isinstance(mention["id"], str)
    assert mention["id"].startswith("sha256:")
    assert len(mention["id"]) <= 200
    assert mention["text"] == "y" * 10_000
    assert mention["source"] == "file"  # not a valid source name: the default
    assert "url" not in mention  # only http(s)
    assert mention["author"] == "Ann"
    assert mention["language"] == "pt"
    assert mention["metadata"] == {"k": 1}


@pytest.mark.parametrize(
    "values",
    [{"text": "no id"}, {"id": "a"}, {"id": "a", "text": "   "}, {"id": True, "text": "t"}],
)
def test_mentions_need_an_id_and_a_text(values: dict[str, object]) -> None:
    assert mention_from(values, "json") is None


def test_walk_follows_keys_and_indexes() -> None:
    document = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert walk(document, "") is document
    assert walk(document, "a.b.1.c") == 2
    assert walk(document, "a.b.2.c") is None
    assert walk(document, "a.x") is None
    assert walk(document, "a.b.c") is None


def test_json_at_the_root_and_its_errors() -> None:
    fields = JsonFields()
    parsed = parse_json(
        b'[{"id": "1", "text": "hi", "createdAt": "2024-05-01T00:00:00Z"}]',
        items_path="",
        fields=fields,
    )
    assert parsed.mentions == [
        {"id": "1", "text": "hi", "source": "json", "createdAt": "2024-05-01T00:00:00Z"}
    ]
    with pytest.raises(ValueError, match="no array of items at the root"):
        parse_json(b'{"items": []}', items_path="", fields=fields)
    with pytest.raises(ValueError, match="not JSON"):
        parse_json(b"<html>", items_path="", fields=fields)
    with pytest.raises(ValueError, match=r"at 'data\.items'"):
        parse_json(b'{"data": {}}', items_path="data.items", fields=fields)


def test_json_lines_keep_the_mention_keys_and_count_invalid_lines() -> None:
    chunk = (
        b'{"id": "1", "text": "one", "source": "x", "extra": true}\n'
        b"\n"
        b"not json\n"
        b'["an", "array"]\n'
        b'{"id": "2"}\n'
        b'{"id": "3", "text": "three", "metadata": {"lang": "x"}}\n'
    )
    parsed = parse_jsonl(chunk)
    assert parsed.mentions == [
        {"id": "1", "text": "one", "source": "x"},
        {"id": "3", "text": "three", "source": "file", "metadata": {"lang": "x"}},
    ]
    assert parsed.skipped == 3


def test_fetch_state_round_trips() -> None:
    state = FetchState(etag='"v1"', last_modified="Wed, 01 May 2024 10:00:00 GMT", offset=7)
    assert FetchState.from_document(state.to_document()) == state
    assert FetchState.from_document({"offset": -3, "etag": 5}) == FetchState()


# --- the address guard ----------------------------------------------------------------------


def resolver(*addresses: str) -> FakeResolver:
    return FakeResolver(addresses)


class FakeResolver:
    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if not self.addresses:
            raise OSError("Name or service not known")
        return self.addresses


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.8.8", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "not-global"),  # shared address space (carrier NAT)
    ],
)
async def test_the_guard_refuses_non_public_addresses(address: str, reason: str) -> None:
    guard = AddressGuard(resolve=resolver(address))
    with pytest.raises(AddressRefusedError, match=f"a {reason} address"):
        await guard.check("http://feeds.example/rss")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111"])
async def test_the_guard_allows_public_addresses(address: str) -> None:
    fake = resolver(address)
    await AddressGuard(resolve=fake).check("https://feeds.example:8443/rss")
    assert fake.asked == [("feeds.example", 8443)]


async def test_every_resolved_address_is_checked() -> None:
    guard = AddressGuard(resolve=resolver("93.184.216.34", "10.0.0.5"))
    with pytest.raises(AddressRefusedError, match=r"10\.0\.0\.5"):
        await guard.check("http://feeds.example/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://feeds.example/x", "not http or https"),
        ("file:///etc/passwd", "not http or https"),
        ("gopher://a/", "not http or https"),
        ("http:///path-only", "no host"),
        ("http://[::1/", "invalid URL"),
    ],
)
async def test_the_guard_allows_only_http_urls(url: str, reason: str) -> None:
    guard = AddressGuard(allow_private=True, resolve=resolver("93.184.216.34"))
    with pytest.raises(AddressRefusedError, match=reason):
        await guard.check(url)


async def test_the_guard_resolves_the_idna_name() -> None:
    fake = resolver("93.184.216.34")
    await AddressGuard(resolve=fake).check("https://Bücher.example./feed")
    assert fake.asked == [("xn--bcher-kva.example", 443)]


async def test_unresolvable_hosts_are_refused() -> None:
    with pytest.raises(AddressRefusedError, match="cannot resolve"):
        await AddressGuard(resolve=resolver()).check("http://nowhere.invalid/")


async def test_private_addresses_and_trusted_hosts_can_be_allowed() -> None:
    fake = resolver("10.0.0.5")
    await AddressGuard(allow_private=True, resolve=fake).check("http://intranet/")
    await AddressGuard(trusted_hosts=["Mirror.Internal."], resolve=fake).check(
        "http://mirror.internal/feed"
    )
    assert fake.asked == []  # neither resolved
    with pytest.raises(AddressRefusedError):
        await AddressGuard(trusted_hosts=["mirror.internal"], resolve=fake).check(
            "http://other.internal/"
        )


# --- the host limiter -----------------------------------------------------------------------


class FakeTime:
    """A clock that only sleeping moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_the_limiter_spaces_requests_to_one_host() -> None:
    fake = FakeTime()
    limiter = HostLimiter(2.0, clock=fake.clock, sleep=fake.sleep)
    await limiter.acquire("a.example")
    await limiter.acquire("A.example")  # host names are case-insensitive
    await limiter.acquire("a.example")
    assert fake.sleeps == [0.5, 0.5]
    fake.now += 10  # long after: no wait
    await limiter.acquire("a.example")
    assert fake.sleeps == [0.5, 0.5]


async def test_the_limiter_keeps_hosts_apart() -> None:
    fake = FakeTime()
    limiter = HostLimiter(clock=fake.clock, sleep=fake.sleep)  # 1 request/s by default
    await limiter.acquire("a.example")
    await limiter.acquire("b.example")
    assert fake.sleeps == []
    await limiter.acquire("a.example")
    assert fake.sleeps == [1.0]


async def test_concurrent_callers_queue_in_order() -> None:
    now = 5.0
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # records without moving the clock
        slept.append(seconds)

    limiter = HostLimiter(4.0, clock=lambda: now, sleep=sleep)
    await asyncio.gather(*(limiter.acquire("a.example") for _ in range(4)))
    assert sorted(slept) == [0.25, 0.5, 0.75]


def test_the_limiter_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        HostLimiter(0)
