"""An in-process copy of the published summaries, so that ``GET /v1/brands/{slug}/summary``
answers without a Redis round trip (DESIGN §5). Only registered brands' summaries are served:
deleting a brand announces it on the same channel.

An entry is the summary's bytes and ETag as read from ``summary:brand:{slug}``. It is dropped
when any replica publishes a new summary of the brand (the ``orch:summaries`` pub/sub channel,
followed by the ``step`` loop), replaced at once when this replica publishes one, and read again
after ``max_age_s`` in any case: that bounds how long a write nobody announced (the original's
summarizer, the key's TTL) stays unseen. A read is made once for all the requests that need it,
and a request for an entry near the end of its age starts one while it is still served, so under
steady load no request waits on Redis (a read per request at each expiry stalled the loop).
While the subscription is down nothing is served from memory: every read goes to Redis until it
is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from orchestrator.keys import Keys

_REFRESH_AT = 0.8  # of max_age_s: a request then starts a read and is served the entry


@dataclass(frozen=True)
class CachedSummary:
    document: bytes
    etag: str
    read_at: float  # monotonic
    length: str = field(init=False)  # the document's size, as a Content-Length header says it

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", str(len(self.document)))


def etag_of(document: bytes) -> str:
    return f'"{hashlib.sha256(document).hexdigest()[:32]}"'


@dataclass
class SummaryCache:
    redis: Redis
    keys: Keys
    max_age_s: float = 5.0
    max_entries: int = 100_000
    _entries: OrderedDict[str, CachedSummary] = field(default_factory=OrderedDict)
    _pubsub: PubSub | None = None
    _dropped: int = 0  # entries dropped by announcements so far
    _reading: dict[str, asyncio.Future[CachedSummary | None]] = field(default_factory=dict)

    async def get(self, slug: str) -> CachedSummary | None:
        """The brand's published summary, or None when it has none. One read at a time per
        brand: the requests that need it wait for the same read."""
        entry = self._entries.get(slug)
        if entry is not None:
            age_s = time.monotonic() - entry.read_at
            if age_s < self.max_age_s:
                if age_s >= self.max_age_s * _REFRESH_AT and slug not in self._reading:
                    self._start_read(slug)  # ahead of expiry: no request waits on Redis
                return entry
        reading = self._reading.get(slug) or self._start_read(slug)
        return await asyncio.shield(reading)

    def _start_read(self, slug: str) -> asyncio.Future[CachedSummary | None]:
        reading = self._reading[slug] = asyncio.ensure_future(self._read(slug))
        reading.add_done_callback(functools.partial(self._read_done, slug))
        return reading

    async def _read(self, slug: str) -> CachedSummary | None:
        dropped = self._dropped
        now = time.monotonic()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.legacy_summary(slug))
            pipe.hexists(self.keys.brand_docs, slug)
            document, registered = await pipe.execute()
        if document is None or not registered:  # a deleted brand's summary is not served
            self._entries.pop(slug, None)
            return None
        if dropped != self._dropped:  # a summary was announced while we read: may be older
            return CachedSummary(document, etag_of(document), now)
        return self.put(slug, document, now)

    def _read_done(self, slug: str, reading: asyncio.Future[CachedSummary | None]) -> None:
        self._reading.pop(slug, None)
        if not reading.cancelled():
            reading.exception()  # a failed read ahead of expiry is retried by the next request

    def put(self, slug: str, document: bytes, read_at: float | None = None) -> CachedSummary:
        entry = CachedSummary(document, etag_of(document), read_at or time.monotonic())
        if self._pubsub is None:  # not told of others' writes: do not keep it
            return entry
        self._entries[slug] = entry
        self._entries.move_to_end(slug)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    async def step(self) -> float:
        """Loop step: follow the summaries channel, dropping the entries it names."""
        try:
            if self._pubsub is None:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.keys.summary_channel)
                self._entries.clear()  # anything may have changed while nobody listened
                self._pubsub = pubsub
            message = await self._pubsub.get_message(timeout=1.0)
            while message is not None:
                if message["type"] == "message":
                    self._entries.pop(cast(bytes, message["data"]).decode(), None)
                    self._dropped += 1
                message = await self._pubsub.get_message(timeout=0.0)
        except RedisError:
            await self.aclose()
            raise
        return 0.0

    async def aclose(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._entries.clear()
        if pubsub is not None:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
