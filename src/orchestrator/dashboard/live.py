"""Live pages: server-sent events carrying the page's regions, re-rendered when they change.

One loop per replica (:class:`SummaryFeed`) follows the summaries stream and wakes every open
event stream as soon as a brand's summary is published; between summaries a stream re-renders
every few seconds anyway (queues and workers change without one). A stream sends the regions
that changed, an ``alive`` event otherwise (so the page knows its data is current), and a
``stale`` event with the reason while the store does not answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.errors import StoreUnavailableError
from orchestrator.keys import Keys
from orchestrator.types import text

log = structlog.get_logger(__name__)

Regions = dict[str, str]  # region name → its HTML
Render = Callable[[], Awaitable[Regions]]
_Entries = list[tuple[bytes, dict[bytes, bytes]]]


class SummaryFeed:
    """A loop step: reads what the summaries stream gained since the last step and wakes the
    event streams waiting on :meth:`wait`."""

    def __init__(self, redis: Redis, keys: Keys, every_s: float = 1.0) -> None:
        self.redis = redis
        self.stream = keys.summary_stream
        self.every_s = every_s
        self._last: str | None = None
        self._changed = anyio.Event()

    async def step(self) -> float:
        if self._last is None:  # start from the newest entry: only new summaries wake streams
            newest = cast(_Entries, await self.redis.xrevrange(self.stream, count=1))
            self._last = text(newest[0][0]) if newest else "0-0"
            return self.every_s
        found = await self.redis.xread({self.stream: self._last}, count=500)
        reply = cast(list[tuple[bytes, _Entries]], found)
        if reply:
            entries = reply[0][1]
            self._last = text(entries[-1][0])
            self.wake()
        return self.every_s

    def wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait(self, timeout_s: float) -> None:
        """Return when a summary is published, or after ``timeout_s``."""
        with anyio.move_on_after(timeout_s):
            await self._changed.wait()


def event(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event (``data`` as one line of JSON)."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def events(
    render: Render,
    feed: SummaryFeed,
    *,
    every_s: float,
    max_age_s: float,
) -> AsyncIterator[bytes]:
    """The event stream of one page. It ends by itself after ``max_age_s`` and the browser
    reconnects a second later: the server never waits on an open stream to stop (an HTTP
    server drains its requests before the application hears of a shutdown)."""
    yield b"retry: 1000\n\n"
    shown: Regions = {}
    ends = time.monotonic() + max_age_s
    while time.monotonic() < ends:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            regions = await render()
        except (RedisError, StoreUnavailableError) as exc:
            log.warning("dashboard.stale", error=str(exc))
            yield event("stale", {"at": now, "reason": "the store does not answer"})
        else:
            changed = {name: html for name, html in regions.items() if shown.get(name) != html}
            shown.update(changed)
            if changed:
                yield event("update", {"at": now, "regions": changed, "every": every_s})
            else:
                yield event("alive", {"at": now, "every": every_s})
        await feed.wait(every_s)
