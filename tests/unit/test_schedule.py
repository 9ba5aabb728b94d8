from __future__ import annotations

import pytest

from orchestrator.schedule import (
    BLOCKED_RECHECK_MS,
    BrandSettings,
    BrandState,
    Cadence,
    backoff_ms,
    chunks_to_cut,
    collect_due,
    decode_brand_settings,
    next_due_ms,
)

NOW = 1_000_000_000
INTERVAL_MS = 300_000


def settings(sources: int = 0, max_in_flight: int = 4) -> BrandSettings:
    return BrandSettings(
        slug="nike", status="active", sources=[{}] * sources, max_in_flight=max_in_flight
    )


@pytest.mark.parametrize(
    ("sources", "last_collect_ms", "due"),
    [
        (0, 0, False),  # nothing to collect from
        (1, 0, True),  # never collected
        (1, NOW - INTERVAL_MS, True),  # exactly one interval ago
        (1, NOW - INTERVAL_MS + 1, False),
    ],
)
def test_collect_is_due_at_the_interval(sources: int, last_collect_ms: int, due: bool) -> None:
    state = BrandState(in_flight=0, pending_chunks=0, last_collect_ms=last_collect_ms)
    assert collect_due(settings(sources), state, NOW) is due


@pytest.mark.parametrize(
    ("pending", "max_in_flight", "cut"), [(0, 4, 4), (3, 4, 1), (4, 4, 0), (9, 4, 0), (0, 1, 1)]
)
def test_no_more_is_cut_than_can_be_in_flight(pending: int, max_in_flight: int, cut: int) -> None:
    state = BrandState(in_flight=0, pending_chunks=pending, last_collect_ms=0)
    assert chunks_to_cut(settings(max_in_flight=max_in_flight), state) == cut


@pytest.mark.parametrize(
    ("sources", "last_collect_ms", "waiting", "due"),
    [
        (0, 0, False, NOW + INTERVAL_MS),
        (0, 0, True, NOW + BLOCKED_RECHECK_MS),
        (1, NOW - 100_000, False, NOW + 200_000),  # the next collect comes first
        (1, NOW, False, NOW + INTERVAL_MS),
    ],
)
def test_next_due(sources: int, last_collect_ms: int, waiting: bool, due: int) -> None:
    assert (
        next_due_ms(settings(sources), now_ms=NOW, last_collect_ms=last_collect_ms, waiting=waiting)
        == due
    )


@pytest.mark.parametrize(
    ("sources", "leftover_ready_ms", "due"),
    [
        (0, NOW + 10_000, NOW + 10_000),  # mentions left uncut come first
        (1, NOW + 10_000, NOW + 10_000),
        (1, NOW + 250_000, NOW + 200_000),  # the next collect comes first
        (0, 0, NOW + INTERVAL_MS),  # nothing left waiting
    ],
)
def test_mentions_left_uncut_are_looked_at_when_they_may_be_cut(
    sources: int, leftover_ready_ms: int, due: int
) -> None:
    assert (
        next_due_ms(
            settings(sources),
            now_ms=NOW,
            last_collect_ms=NOW - 100_000,
            waiting=False,
            leftover_ready_ms=leftover_ready_ms,
        )
        == due
    )


@pytest.mark.parametrize(
    ("uncut", "last_cut_ms", "ready"),
    [
        (10, NOW - 1, NOW),  # a full chunk waits
        (25, NOW - 1, NOW),
        (9, NOW - 1, NOW - 1 + INTERVAL_MS),  # fewer: one interval after the last cut
        (9, NOW - INTERVAL_MS, NOW),  # the interval has passed
        (1, 0, NOW),  # never cut
    ],
)
def test_mentions_can_be_cut_when_a_chunk_is_full_or_the_interval_has_passed(
    uncut: int, last_cut_ms: int, ready: int
) -> None:
    cadence = Cadence(chunk_size=10, interval_ms=INTERVAL_MS)
    assert cadence.ready_ms(uncut=uncut, last_cut_ms=last_cut_ms, now_ms=NOW) == ready


@pytest.mark.parametrize("attempt", [1, 2, 5, 10, 30])
def test_backoff_grows_with_full_jitter_and_a_cap(attempt: int) -> None:
    ceiling = min(60_000, 500 * 2**attempt)
    delays = [backoff_ms(attempt, base_ms=500, cap_ms=60_000) for _ in range(200)]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jittered


def test_the_scheduler_reads_a_stored_brand_without_pydantic() -> None:
    document = (
        b'{"slug":"nike","status":"paused","sources":[{"type":"rss"}],"scheduleIntervalSec":60,'
        b'"chunkSize":50,"maxInFlight":3,"name":"Nike","keywords":["nike"],"version":2}'
    )
    brand = decode_brand_settings(document)
    assert (brand.status, brand.interval_ms, brand.chunk_size, brand.max_in_flight) == (
        "paused", 60_000, 50, 3,
    )  # fmt: skip
