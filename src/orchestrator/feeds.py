"""Fetched bytes to mentions: RSS 2.0 and Atom (through feedparser), JSON mapped by dot paths,
and JSON Lines; and the keyword matcher that decides which mentions are a brand's. Pure: no
I/O; ``orchestrator.sources`` fetches, calls these and re-exports the matcher.

A mention is a plain dict with the ingestion API's camelCase keys (``MENTION_KEYS``), missing
optional ones omitted. Values are normalized to what ingestion accepts: ids longer than
``MAX_ID`` become a digest, text is cut at ``MAX_TEXT``, only http(s) URLs are kept, times
become UTC RFC 3339 and languages their ISO 639-1 code; a value that cannot be normalized is
dropped (an optional field) or skips the item (id, text).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, cast
from urllib.parse import urlsplit

import feedparser  # type: ignore[import-untyped]

from orchestrator.brand import BrandSpec, JsonFields
from orchestrator.languages import ISO_639_1

Mention = dict[str, object]

MENTION_KEYS = ("id", "text", "source", "url", "author", "createdAt", "language", "metadata")
MAX_ID = 200
MAX_TEXT = 10_000
MAX_URL = 2_048
MAX_AUTHOR = 200
MAX_METADATA_KEYS = 50
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_EPOCH_MS_ABOVE = 100_000_000_000  # larger epoch numbers are milliseconds (after 1973 in ms)


class ParseError(ValueError):
    """The body is not what the source's type says (not a feed, not JSON, no item array)."""


@dataclass(frozen=True)
class Parsed:
    mentions: list[Mention]
    skipped: int  # items without a usable id or text, and invalid lines


# --- mentions -------------------------------------------------------------------------------


def mention_from(values: Mapping[str, object], default_source: str) -> Mention | None:
    """A normalized mention from raw camelCase values; None without a usable id or text."""
    mention_id = _mention_id(values.get("id"))
    text = _mention_text(values.get("text"))
    if mention_id is None or text is None:
        return None
    source = values.get("source")
    mention: Mention = {
        "id": mention_id,
        "text": text,
        "source": source
        if isinstance(source, str) and _SOURCE_NAME.match(source)
        else default_source,
    }
    for key, normalize in _OPTIONAL.items():
        value = normalize(values.get(key))
        if value is not None:
            mention[key] = value
    return mention


def _mention_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) <= MAX_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _mention_text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_TEXT]


def _http_url(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_URL:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _author(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_AUTHOR]


def _language(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    code = primary_language(value)
    return code if code in ISO_639_1 else None


def primary_language(tag: str) -> str:
    """``"en-US"`` → ``"en"``: the primary subtag of a language tag, lower case."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def _metadata(value: object) -> dict[str, object] | None:
    if not isinstance(value, dict) or not value or len(value) > MAX_METADATA_KEYS:
        return None
    return cast(dict[str, object], value)


def _created_at(value: object) -> str | None:
    moment = _to_datetime(value)
    return rfc3339(moment) if moment is not None else None


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > _EPOCH_MS_ABOVE else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        return _parse_time_text(value.strip())
    return None


def _parse_time_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)  # RFC 2822, as many JSON APIs copy from RSS
    except (TypeError, ValueError, IndexError):
        return None


def rfc3339(moment: datetime) -> str:
    """UTC, seconds precision or finer, ``Z``; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_OPTIONAL: dict[str, Callable[[object], object | None]] = {
    "url": _http_url,
    "author": _author,
    "createdAt": _created_at,
    "language": _language,
    "metadata": _metadata,
}


def _collect(values: Iterable[Mapping[str, object] | None], default_source: str) -> Parsed:
    mentions: list[Mention] = []
    skipped = 0
    for item in values:
        mention = mention_from(item, default_source) if item is not None else None
        if mention is None:
            skipped += 1
        else:
            mentions.append(mention)
    return Parsed(mentions, skipped)


# --- HTML to text ---------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})
_BREAKING_TAGS = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "hr", "section", "article", "header", "footer", "figure", "table"}
)  # fmt: skip


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment, entities decoded, whitespace collapsed."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


# --- RSS 2.0 and Atom -----------------------------------------------------------------------


def parse_feed(body: bytes, *, kind: str, url: str, content_type: str | None) -> Parsed:
    """The entries of an RSS 2.0 or Atom document as mentions with ``source`` = ``kind``.

    The body is handed over as a stream: given bytes or a string, feedparser would try them
    as a URL or a file name first.
    """
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    result = feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=True, resolve_relative_uris=True
    )
    entries = cast(list[Mapping[str, Any]], result.get("entries") or [])
    feed = cast(Mapping[str, Any], result.get("feed") or {})
    if not entries and not result.get("version"):
        reason = result.get("bozo_exception") or "no feed element"
        raise ParseError(f"not an RSS or Atom feed: {reason}")
    feed_language = _text_value(feed.get("language"))
    return _collect((_entry_values(entry, feed_language) for entry in entries), kind)


def _entry_values(entry: Mapping[str, Any], feed_language: str | None) -> dict[str, object]:
    return {
        "id": _text_value(entry.get("id")) or _text_value(entry.get("link")),
        "text": _entry_text(entry),
        "url": _text_value(entry.get("link")),
        "author": _text_value(entry.get("author")),
        "createdAt": _entry_time(entry),
        "language": _entry_language(entry) or feed_language,
    }


def _entry_text(entry: Mapping[str, Any]) -> str:
    title = _detail_text(entry.get("title"), entry.get("title_detail"))
    summary = _detail_text(entry.get("summary"), entry.get("summary_detail"))
    if not summary:
        contents = cast(list[Mapping[str, Any]], entry.get("content") or [])
        summary = _detail_text(contents[0].get("value"), contents[0]) if contents else ""
    if summary == title or summary.startswith(title + " "):
        return summary
    return "\n\n".join(part for part in (title, summary) if part)


def _detail_text(value: object, detail: object) -> str:
    """Plain text from a feed text construct: HTML is stripped, plain text only trimmed."""
    text = _text_value(value) or ""
    kind = cast(Mapping[str, Any], detail).get("type") if isinstance(detail, Mapping) else None
    if kind == "text/plain":
        return " ".join(text.split())
    return html_to_text(text)


def _entry_time(entry: Mapping[str, Any]) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed is not None:  # a time.struct_time, already converted to UTC
            fields = cast(tuple[int, int, int, int, int, int], tuple(parsed[:6]))
            try:
                return rfc3339(datetime(*fields, tzinfo=UTC))
            except ValueError:
                continue
    return None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping) and detail.get("language"):
            return _text_value(detail.get("language"))
    return None


def _text_value(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- JSON -----------------------------------------------------------------------------------


def parse_json(body: bytes, *, items_path: str, fields: JsonFields) -> Parsed:
    """The items at ``items_path`` mapped to mentions by ``fields``' dot paths."""
    try:
        document: object = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    items = walk(document, items_path)
    if not isinstance(items, list):
        where = f"at {items_path!r}" if items_path else "at the root"
        raise ParseError(f"no array of items {where}")
    return _collect((_json_values(item, fields) for item in items), "json")


def _json_values(item: object, fields: JsonFields) -> dict[str, object] | None:
    if not isinstance(item, dict):
        return None
    paths = {
        "id": fields.id,
        "text": fields.text,
        "url": fields.url,
        "author": fields.author,
        "createdAt": fields.created_at,
        "language": fields.language,
    }
    return {key: walk(item, path) for key, path in paths.items() if path is not None}


def walk(document: object, path: str) -> object:
    """The value at a dot path (``data.items``, ``items.0.text``); None where it leads nowhere.

    An empty path is the document itself.
    """
    current = document
    for segment in path.split(".") if path else ():
        if isinstance(current, dict):
            current = cast(dict[str, object], current).get(segment)
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = cast(list[object], current)[int(segment)]
        else:
            return None
    return current


# --- JSON Lines -----------------------------------------------------------------------------


def parse_jsonl(chunk: bytes) -> Parsed:
    """Complete lines, each a mention object; blank lines are ignored, invalid ones skipped."""
    return _collect((_line_values(line) for line in chunk.splitlines() if line.strip()), "file")


def _line_values(line: bytes) -> dict[str, object] | None:
    try:
        value: object = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    item = cast(dict[str, object], value)
    return {key: item[key] for key in MENTION_KEYS if key in item}


# --- keywords -------------------------------------------------------------------------------

_QUOTES = frozenset({('"', '"'), ("\u201c", "\u201d")})


def _fold(text: str) -> str:
    """Compatibility-normalized and case-folded: how both terms and texts are compared."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _word_class() -> str:
    """A regex class of the characters that continue a word: ``\\w``, combining marks (``\\w``
    leaves them out, so "cafe" would match in a decomposed "café" or a Devanagari stem before
    its vowel sign) and the zero-width joiners. Built once per process, from the BMP.
    """
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x10000 + 1):  # one past the BMP closes a last run
        mark = code < 0x10000 and unicodedata.category(chr(code)).startswith("M")
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}")
            start = None
    return "[\\w\\u200c\\u200d" + "".join(ranges) + "]"


def _term_pattern(term: str) -> str | None:
    """A keyword as a regex: its words in order, any whitespace between (a phrase)."""
    stripped = term.strip()
    if len(stripped) >= 2 and (stripped[0], stripped[-1]) in _QUOTES:
        stripped = stripped[1:-1]
    words = _fold(stripped).split()
    return r"\s+".join(re.escape(word) for word in words) if words else None


def _compile_terms(terms: Iterable[str]) -> re.Pattern[str] | None:
    patterns = sorted({p for term in terms if (p := _term_pattern(term))}, key=len, reverse=True)
    if not patterns:
        return None
    word = _word_class()
    return re.compile(f"(?<!{word})(?:{'|'.join(patterns)})(?!{word})")


class KeywordMatcher:
    """Whether a text is about a brand: any keyword, no exclusion, one of its languages.

    Case-insensitive (Unicode case folding and NFKC, so "CAFÉ" is "café" and "Straße" is
    "strasse") and whole words only: "ace" is not found in "place". A keyword with spaces, or
    in double quotes, is a phrase: its words consecutive, separated by any whitespace.
    """

    def __init__(
        self,
        keywords: Iterable[str],
        exclude_keywords: Iterable[str] = (),
        languages: Iterable[str] = (),
    ) -> None:
        self._include = _compile_terms(keywords)
        self._exclude = _compile_terms(exclude_keywords)
        self._languages = frozenset(primary_language(code) for code in languages)

    @classmethod
    def for_brand(cls, brand: BrandSpec) -> KeywordMatcher:
        return cls(brand.keywords, brand.exclude_keywords, brand.languages)

    def matches(self, text: str, language: str | None = None) -> bool:
        """True when a keyword matches, no exclusion does, and the language is allowed (an
        unknown language, None, is allowed)."""
        if self._include is None or not self._language_allowed(language):
            return False
        folded = _fold(text)
        if self._include.search(folded) is None:
            return False
        return self._exclude is None or self._exclude.search(folded) is None

    def _language_allowed(self, language: str | None) -> bool:
        return (
            not self._languages
            or language is None
            or (primary_language(language) in self._languages)
        )


def keep_matching(mentions: Iterable[Mention], matcher: KeywordMatcher) -> list[Mention]:
    """The mentions whose text and language the matcher accepts."""
    kept: list[Mention] = []
    for mention in mentions:
        text, language = mention.get("text"), mention.get("language")
        if isinstance(text, str) and matcher.matches(
            text, language if isinstance(language, str) else None
        ):
            kept.append(mention)
    return kept
