"""Run spike detection for the brands whose aggregates change, on their closed, complete buckets.

A bucket is evaluated once it closed ``grace_s`` ago and is complete: the mentions applied to it
reach the mentions accepted for it (``expected``, counted at ingestion), or the brand's
aggregate has not changed for ``max_wait_s`` (a chunk dead-lettered must not stall detection
forever). Buckets are evaluated in order, so detection never fires on a window still being
filled. Replicas evaluating one brand at once are serialized by a compare-and-set on its detector
state (a script that records the evaluation only if the state is still the one it started from):
one wins, the other's result is dropped, and no event is recorded twice. Each event goes into the
brand's alert outbox in the same step (``orchestrator.alerts``). Not WATCH and MULTI: redis-py's
cluster client runs a transaction's reads in a thread of its own, blocking the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator.aggregate import RESOLUTIONS, Bucket
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.spikes import DetectorState, SpikeEvent, SpikeSettings, evaluate
from orchestrator.store.scripts import load_script
from orchestrator.types import ScriptArg

log = structlog.get_logger(__name__)

_KEEP_EVENTS = 200
_encode = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(DetectorState).decode
decode_event = msgspec.json.Decoder(SpikeEvent).decode


@dataclass
class SpikeWatch:
    redis: Redis
    keys: Keys
    metrics: Metrics
    settings: SpikeSettings
    max_wait_s: float = 600.0
    every_s: float = 5.0
    on_spike: Callable[[str], None] = lambda brand: None  # told of each brand with a new event
    _watching: dict[str, int] = field(init=False, default_factory=dict)  # brand → next look (ms)
    _touched_at: dict[str, int] = field(init=False, default_factory=dict)  # brand → last apply

    def __post_init__(self) -> None:
        self._commit = load_script(self.redis, "spike_commit")
        self.width = RESOLUTIONS[self.settings.resolution]
        self.max_wait_ms = int(self.max_wait_s * 1000)

    def touched(self, brands: set[str]) -> None:
        """The collector applied results for these brands: look at them on the next step."""
        now_ms = int(time.time() * 1000)
        for brand in brands:
            self._watching.setdefault(brand, 0)  # a settled brand waits for its next bucket
            self._touched_at[brand] = now_ms

    async def step(self) -> float:
        now_ms = int(time.time() * 1000)
        for brand, due in list(self._watching.items()):
            if now_ms >= due:
                await self.evaluate(brand, now_ms)
        return self.every_s

    async def evaluate(self, brand: str, now_ms: int) -> list[SpikeEvent]:
        """Evaluate the brand's buckets that closed and completed since it was last evaluated."""
        width, k = self.width, self.keys
        until = (now_ms - int(self.settings.grace_s * 1000)) // width * width
        raw = cast(bytes | None, await self.redis.get(k.spike_state(brand)))
        state = _decode_state(raw) if raw else DetectorState()
        start = state.last + width if state.last >= 0 else await self._first(brand)
        if start is None or start >= until:
            self._later(brand, now_ms, settled=True)
            return []
        closed = until
        buckets, until = await self._complete(brand, start, until, now_ms)
        if start >= until:
            self._later(brand, now_ms, settled=False)
            return []
        events = evaluate(state, buckets, range(start, until, width), self.settings)
        if events:  # marked due first: a due brand with an empty outbox is merely skipped
            await self.redis.zadd(k.alert_due, {brand: now_ms}, lt=True)
        args: list[ScriptArg] = [raw or b"", _encode(state), _KEEP_EVENTS]
        for event in events:
            args += [event.at, _encode(event)]
        keys = [k.spike_state(brand), k.spikes(brand), k.alert_outbox(brand)]
        if not await self._commit(keys=keys, args=args):
            return []  # another replica evaluated these buckets first
        if until < closed:  # stopped at a bucket still being filled: look again soon
            self._later(brand, now_ms, settled=False)
        elif state.last + width > self._touched_at.get(brand, 0):
            self._watching.pop(brand, None)  # every applied result's bucket is evaluated
            self._touched_at.pop(brand, None)
        else:
            self._later(brand, now_ms, settled=True)
        if events:
            self.on_spike(brand)
        for event in events:
            self.metrics.spikes.inc()
            log.info(
                "spike.detected", brand=brand, at=event.at, volume=event.volume, z=event.z_score
            )
        return events

    def _later(self, brand: str, now_ms: int, *, settled: bool) -> None:
        """Look again when the next bucket closes, or soon if one is waiting to complete."""
        if settled:
            next_close = (now_ms // self.width + 1) * self.width
            self._watching[brand] = next_close + int(self.settings.grace_s * 1000)
        else:
            self._watching[brand] = now_ms + int(self.every_s * 1000)

    async def _first(self, brand: str) -> int | None:
        starts = await self.redis.hkeys(self.keys.buckets(brand, self.settings.resolution))
        return min((int(s) for s in starts), default=None)

    async def _complete(
        self, brand: str, start: int, until: int, now_ms: int
    ) -> tuple[dict[int, Bucket], int]:
        """Buckets ``start``..``until``, and where the first bucket still being filled begins
        (evaluation stops there)."""
        k, resolution = self.keys, self.settings.resolution
        starts = list(range(start, until, self.width))
        raws = await self.redis.hmget(k.buckets(brand, resolution), [str(s) for s in starts])
        expected = await self.redis.hmget(k.expected(brand), [f"{resolution}:{s}" for s in starts])
        updated = await self.redis.hget(k.aggregate(brand), "updatedAt")
        quiet = updated is None or now_ms - int(updated) >= self.max_wait_ms
        buckets: dict[int, Bucket] = {}
        for at, raw, wanted in zip(starts, raws, expected, strict=True):
            bucket = Bucket.from_json(msgspec.json.decode(raw)) if raw else Bucket()
            if not quiet and wanted is not None and bucket.volume < int(wanted):
                return buckets, at
            buckets[at] = bucket
        return buckets, until
