"""Mentions in: validated one by one, deduplicated by id per brand, appended to the brand's
mentions stream (which the scheduler cuts into ``analyze`` chunks), and trimmed once analysed
and older than the retention.

Ingestion takes what is valid and reports the rest: one bad mention never costs the good ones
of the same request. Deduplication, the append and the counts of expected mentions per time
bucket are one script on the brand's hash slot. Given the brand's cadence, ingestion makes the
brand due when what it gained can be cut: at once when a chunk is full or the brand's interval
has passed since its last cut, else one interval after that cut (never later than it was due).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import msgspec
from redis.asyncio import Redis

from orchestrator.aggregate import HOUR_MS, MINUTE_MS
from orchestrator.keys import Keys
from orchestrator.protocol import FIELD
from orchestrator.schedule import Cadence
from orchestrator.store.durability import Durability
from orchestrator.store.scripts import load_script
from orchestrator.store.streams import read_range
from orchestrator.types import ScriptArg, text

MAX_MENTIONS = 5_000  # per request
MAX_BYTES = 5 * 1024 * 1024  # per request


class Mention(
    msgspec.Struct, rename="camel", frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """One mention of a brand, as producers send it and as the mentions stream holds it."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
    source: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")] = "api"
    url: Annotated[str, msgspec.Meta(max_length=2_048)] | None = None
    author: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    created_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    language: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$")] | None = None
    metadata: Annotated[dict[str, Any], msgspec.Meta(max_length=50)] = {}


class Rejected(msgspec.Struct, rename="camel", frozen=True):
    """A mention that was not accepted: its position in the request and what is wrong."""

    index: int
    errors: list[dict[str, str]]


class MentionItem(msgspec.Struct, rename="camel", frozen=True):
    """A mention with its entry id in the brand's mentions stream."""

    entry_id: str
    mention: Mention


class MentionPage(msgspec.Struct, rename="camel", frozen=True):
    """Mentions oldest first; pass ``nextAfter`` as ``after`` to read on."""

    items: list[MentionItem]
    next_after: str | None


class IngestOutcome(msgspec.Struct, rename="camel"):
    """What became of a request's mentions (202 Accepted)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = []


decode_mention = msgspec.json.Decoder(Mention).decode
_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_encode = msgspec.json.Encoder().encode
_FIELD_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_FIELD_NAMED = re.compile(r"field `([^`]+)`")


class BodyError(ValueError):
    """A request body that is not a JSON array or NDJSON of mentions, or too large."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def split_body(body: bytes, ndjson: bool) -> list[bytes]:
    """The raw items of a JSON array or of NDJSON lines; BodyError if neither or too many."""
    if len(body) > MAX_BYTES:
        raise BodyError(f"at most {MAX_BYTES} bytes per request", too_large=True)
    if ndjson:
        items = [line for line in body.split(b"\n") if line.strip()]
    else:
        try:
            items = [bytes(raw) for raw in _decode_items(body)]
        except msgspec.ValidationError:
            raise BodyError("the body must be a JSON array of mentions (or NDJSON)") from None
        except msgspec.DecodeError as exc:
            raise BodyError(f"malformed JSON: {exc}") from None
    if len(items) > MAX_MENTIONS:
        raise BodyError(f"at most {MAX_MENTIONS} mentions per request", too_large=True)
    return items


def parse(items: Sequence[bytes]) -> tuple[list[tuple[int, Mention]], list[Rejected]]:
    """Decode each item on its own: the valid mentions (with their index) and the rejects."""
    valid: list[tuple[int, Mention]] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(items):
        try:
            valid.append((index, decode_mention(raw)))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            rejected.append(Rejected(index, [_field_error(exc)]))
    return valid, rejected


def _field_error(exc: Exception) -> dict[str, str]:
    """The field at fault (a dot path, "" for the mention itself) and msgspec's message."""
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):  # its base class: not JSON at all
        return {"field": "", "message": f"malformed JSON: {message}"}
    found = _FIELD_AT.search(message)
    path = found.group(1) if found else ""
    named = _FIELD_NAMED.search(message)
    if named:  # "Object missing required field `id`", "... unknown field `x`"
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return {"field": path, "message": _FIELD_AT.sub("", message)}


@dataclass(frozen=True)
class MentionSettings:
    dedup_window_s: float = 7 * 86_400  # how long an id is remembered
    dedup_max: int = 2_000_000  # ids remembered per brand, at most
    retention_s: float = 3 * 86_400  # analysed mentions older than this are trimmed


@dataclass
class MentionStore:
    redis: Redis
    keys: Keys
    settings: MentionSettings = field(default_factory=MentionSettings)
    durability: Durability | None = None  # confirms ingested mentions before the 202

    def __post_init__(self) -> None:
        self._durable = self.durability or Durability(self.redis)
        self._ingest = load_script(self.redis, "mentions_ingest")
        self._trim = load_script(self.redis, "mentions_trim")

    async def ingest(
        self, brand: str, items: Sequence[bytes], cadence: Cadence | None = None
    ) -> IngestOutcome:
        """Validate, deduplicate and append; the outcome lists rejects by index. With the
        brand's ``cadence``, make it due when the new mentions can be cut (a collect task's
        ingestion leaves that to the task's completion, which makes the brand due)."""
        valid, rejected = parse(items)
        outcome = IngestOutcome(rejected=rejected)
        if not valid:
            return outcome
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        args: list[ScriptArg] = [
            now_ms,
            int(self.settings.dedup_window_s * 1000),
            self.settings.dedup_max,
        ]
        for _, given in valid:
            mention = given if given.created_at else msgspec.structs.replace(given, created_at=now)
            at = int(cast(datetime, mention.created_at).timestamp() * 1000)
            args += [
                mention.id,
                _encode(mention),
                at // MINUTE_MS * MINUTE_MS,
                at // HOUR_MS * HOUR_MS,
            ]
        keys = [
            self.keys.mention_ids(brand), self.keys.mentions(brand), self.keys.expected(brand),
            self.keys.schedule_state(brand),
        ]  # fmt: skip
        reply = await self._durable.run(self._ingest, keys, args)
        outcome.accepted, outcome.duplicates = int(reply[0]), int(reply[1])
        if outcome.accepted and cadence is not None:
            ready_ms = cadence.ready_ms(
                uncut=int(reply[2]), last_cut_ms=int(reply[3]), now_ms=now_ms
            )
            await self.redis.zadd(self.keys.brand_due, {brand: ready_ms}, xx=True, lt=True)
        return outcome

    async def page(
        self, brand: str, after: str | None, limit: int
    ) -> tuple[list[tuple[str, Mention]], str | None]:
        """Mentions after stream id ``after`` (oldest first; None: from the start)."""
        start = f"({after}" if after else "-"
        entries = await read_range(self.redis, self.keys.mentions(brand), start, "+", limit)
        found = [(text(entry_id), decode_mention(raw)) for entry_id, raw in entries]
        return found, found[-1][0] if found else after

    async def last_id(self, brand: str) -> str | None:
        """The newest entry's id (to follow the stream from now on)."""
        newest = cast(
            list[tuple[bytes, Any]], await self.redis.xrevrange(self.keys.mentions(brand), count=1)
        )
        return text(newest[0][0]) if newest else None

    async def trim(self, brands: Sequence[str]) -> int:
        """Drop analysed mentions older than the retention; the entries removed."""
        cutoff = f"{int((time.time() - self.settings.retention_s) * 1000)}-0"
        async with self.redis.pipeline(transaction=False) as pipe:
            for brand in brands:
                k = [
                    self.keys.mentions(brand),
                    self.keys.schedule_state(brand),
                    self.keys.pending_chunks(brand),
                ]
                self._trim.queue(pipe, k, [cutoff])
            removed = await pipe.execute()
        return sum(int(n) for n in removed)


@dataclass
class MentionRetention:
    """A loop (every replica; trimming is idempotent) that trims every brand's mentions."""

    store: MentionStore
    slugs: Callable[[], Awaitable[list[str]]]  # the registered brands
    every_s: float = 60.0

    async def step(self) -> float:
        brands = await self.slugs()
        for start in range(0, len(brands), 500):
            await self.store.trim(brands[start : start + 500])
        return self.every_s


def encode_entry(mention: Mention) -> dict[bytes, bytes]:
    """A stream entry holding ``mention`` (for tools and tests that append directly)."""
    return {FIELD: _encode(mention)}
