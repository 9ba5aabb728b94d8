"""Spike detection: finds an injected spike, stays quiet on steady noise, fires once per event."""

from __future__ import annotations

import random
from collections import Counter

from orchestrator.aggregate import HOUR_MS, Bucket
from orchestrator.spikes import DetectorState, SpikeSettings, evaluate

SETTINGS = SpikeSettings()


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method is slow for large means; a normal approximation will do)."""
    return max(0, round(rng.gauss(mean, mean**0.5)))


def series(volumes: list[int]) -> dict[int, Bucket]:
    return {i * HOUR_MS: Bucket(volume=v) for i, v in enumerate(volumes)}


def run(volumes: list[int], settings: SpikeSettings = SETTINGS) -> list[int]:
    """The buckets (indexes) where an event fired."""
    state = DetectorState()
    events = evaluate(state, series(volumes), range(0, len(volumes) * HOUR_MS, HOUR_MS), settings)
    return [event.at // HOUR_MS for event in events]


def test_an_injected_spike_is_found_at_its_bucket() -> None:
    rng = random.Random(1)  # noqa: S311 - reproducible noise, not secrets
    volumes = [poisson(rng, 40) for _ in range(96)]
    volumes[70] = 200  # a recall: five times the usual volume
    assert run(volumes) == [70]


def test_steady_noise_stays_quiet() -> None:
    for seed in range(20):
        rng = random.Random(seed)  # noqa: S311
        assert run([poisson(rng, 40) for _ in range(24 * 14)]) == [], seed


def test_a_long_spike_fires_once_within_the_cooldown() -> None:
    volumes = [40] * 48 + [300] * 4 + [40] * 10
    assert run(volumes) == [48]


def test_persistence_waits_for_unusual_buckets_in_a_row() -> None:
    volumes = [40] * 48 + [300] + [40] * 5 + [300, 300] + [40] * 5
    assert run(volumes, SpikeSettings(persistence=2)) == [55]


def test_nothing_fires_during_the_warm_up_or_under_the_minimum_count() -> None:
    assert run([1] * 5 + [500] + [1] * 5) == []  # bucket 5: the baseline has seen 5 of 12
    assert run([1] * 48 + [15] + [1] * 5) == []  # z is huge but 15 < 20 mentions


def test_an_event_names_its_volume_baseline_and_driving_clusters() -> None:
    buckets = series([40] * 30)
    buckets[29 * HOUR_MS] = Bucket(volume=400, clusters=Counter({"recall": 350, "ads": 50}))
    state = DetectorState()
    (event,) = evaluate(state, buckets, range(0, 30 * HOUR_MS, HOUR_MS), SETTINGS)
    assert (event.at, event.volume, event.baseline) == (29 * HOUR_MS, 400, 40.0)
    assert event.z_score > 50
    assert [c.id for c in event.clusters] == ["recall", "ads"]
    assert state.last == 29 * HOUR_MS


def test_evaluation_resumes_where_it_stopped() -> None:
    volumes = [40] * 60
    volumes[50] = 400
    state = DetectorState()
    first = evaluate(state, series(volumes), range(0, 40 * HOUR_MS, HOUR_MS), SETTINGS)
    second = evaluate(state, series(volumes), range(40 * HOUR_MS, 60 * HOUR_MS, HOUR_MS), SETTINGS)
    assert first == []
    assert [e.at // HOUR_MS for e in second] == [50]
