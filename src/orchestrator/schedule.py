"""Scheduling arithmetic, pure: when a brand is next due, how much to cut, retry backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import msgspec

BLOCKED_RECHECK_MS = 1000  # a brand waiting for capacity is looked at again this soon


class BrandSettings(msgspec.Struct, rename="camel", kw_only=True):
    """The part of a stored brand document the scheduler needs (decoded without Pydantic)."""

    slug: str
    status: str
    sources: list[Any] = []
    schedule_interval_sec: int = 300
    chunk_size: int = 200
    max_in_flight: int = 4

    @property
    def interval_ms(self) -> int:
        return self.schedule_interval_sec * 1000


decode_brand_settings = msgspec.json.Decoder(BrandSettings).decode


@dataclass(frozen=True)
class BrandState:
    """What the scheduler knows of a brand at the start of its turn."""

    in_flight: int
    pending_chunks: int  # cut and not applied yet (in flight or waiting)
    last_collect_ms: int


def collect_due(settings: BrandSettings, state: BrandState, now_ms: int) -> bool:
    return bool(settings.sources) and now_ms - state.last_collect_ms >= settings.interval_ms


def chunks_to_cut(settings: BrandSettings, state: BrandState) -> int:
    """Cut no more than can be in flight: a deep backlog stays in the stream, not in chunks."""
    return max(0, settings.max_in_flight - state.pending_chunks)


def next_due_ms(
    settings: BrandSettings,
    *,
    now_ms: int,
    last_collect_ms: int,
    waiting: bool,
    leftover_ready_ms: int = 0,
) -> int:
    """When to look at the brand again: soon while chunks wait for capacity, else at its
    interval, or sooner for its next collect or for mentions left waiting (fewer than a chunk,
    cut one interval after the last cut). Completions and new mentions wake it earlier."""
    if waiting:
        return now_ms + BLOCKED_RECHECK_MS
    due = now_ms + settings.interval_ms
    if settings.sources:
        due = min(due, max(now_ms, last_collect_ms + settings.interval_ms))
    if leftover_ready_ms:
        due = min(due, max(now_ms, leftover_ready_ms))
    return due


@dataclass(frozen=True)
class Cadence:
    """How a brand's mentions are cut: a chunk when ``chunk_size`` wait, or whatever waits
    ``interval_ms`` after the last cut."""

    chunk_size: int
    interval_ms: int

    def ready_ms(self, *, uncut: int, last_cut_ms: int, now_ms: int) -> int:
        """When ``uncut`` mentions waiting can be cut: now if they fill a chunk or the
        interval has passed, else one interval after the last cut."""
        if uncut >= self.chunk_size:
            return now_ms
        return max(now_ms, last_cut_ms + self.interval_ms)


def backoff_ms(attempt: int, *, base_ms: int, cap_ms: int) -> int:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)].

    (redis-py's ExponentialWithJitterBackoff caps after jittering, so past a few attempts every
    retry would land exactly on the cap, all at once.)"""
    ceiling = min(cap_ms, base_ms * 2 ** min(attempt, 32))
    return int(random.uniform(0, ceiling))  # noqa: S311 - jitter, not cryptography
