"""Spike detection over a brand's volume, one closed bucket at a time (pure, no I/O).

The baseline is an exponentially weighted mean and variance of past buckets' volume. A bucket
is unusual when its z-score against the baseline and its absolute volume both pass their
thresholds; a spike event fires once that has held for ``persistence`` buckets in a row, and
then not again until ``cooldown`` buckets have passed. Unusual buckets stay out of the baseline
until they outlast the cool-down (then they are the new normal). Nothing fires during the
warm-up, while the baseline has seen too few buckets to mean anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from orchestrator.aggregate import Bucket

_MAX_STEPS = 5_000  # buckets walked per evaluation; a longer silence restarts from its end


@dataclass(frozen=True)
class SpikeSettings:
    resolution: str = "hour"  # "minute" or "hour"
    z_threshold: float = 4.0
    min_count: int = 20
    persistence: int = 1
    cooldown: int = 6  # buckets
    alpha: float = 0.1  # weight of the newest bucket in the baseline
    warmup: int = 12  # buckets seen before anything may fire
    grace_s: float = 60.0  # a bucket is evaluated this long after it closes, at the earliest


class DetectorState(msgspec.Struct, kw_only=True):
    last: int = -1  # start (ms) of the last bucket evaluated; -1: none yet
    mean: float = 0.0
    var: float = 0.0
    seen: int = 0
    run: int = 0
    cooldown_until: int = 0


class ClusterShare(msgspec.Struct, frozen=True):
    id: str
    mentions: int


class SpikeEvent(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    at: int  # the bucket's start, ms since the epoch
    resolution: str
    volume: int
    baseline: float
    stddev: float
    z_score: float
    clusters: list[ClusterShare]  # the clusters that grew most in the bucket


def evaluate(
    state: DetectorState, buckets: dict[int, Bucket], span: range, settings: SpikeSettings
) -> list[SpikeEvent]:
    """Walk the buckets starting at each of ``span`` in order, updating ``state``; the spike
    events found. Missing buckets have volume 0."""
    events: list[SpikeEvent] = []
    for at in span[-_MAX_STEPS:]:
        bucket = buckets.get(at) or Bucket()
        event = step(state, at, bucket.volume, span.step, settings)
        if event is not None:
            drivers = bucket.clusters.most_common(3)
            events.append(
                msgspec.structs.replace(event, clusters=[ClusterShare(c, n) for c, n in drivers])
            )
    return events


def step(
    state: DetectorState, at: int, volume: int, width: int, settings: SpikeSettings
) -> SpikeEvent | None:
    """Evaluate one bucket against the baseline, then fold it into the baseline."""
    stddev = math.sqrt(max(state.var, state.mean, 1.0))  # at least Poisson noise
    z = (volume - state.mean) / stddev
    unusual = state.seen >= settings.warmup and z >= settings.z_threshold
    unusual = unusual and volume >= settings.min_count
    state.run = state.run + 1 if unusual else 0
    event = None
    if state.run >= settings.persistence and at >= state.cooldown_until:
        event = SpikeEvent(
            at=at,
            resolution=settings.resolution,
            volume=volume,
            baseline=round(state.mean, 3),
            stddev=round(stddev, 3),
            z_score=round(z, 3),
            clusters=[],
        )
        state.cooldown_until = at + settings.cooldown * width
    if state.seen == 0:  # the first bucket is the baseline
        state.mean = float(volume)
    elif not unusual or state.run > settings.persistence + settings.cooldown:
        # An unusual bucket stays out of the baseline, so a spike does not hide its own next
        # buckets; one that lasts past the cool-down is the new normal and is folded in.
        diff = volume - state.mean
        increment = settings.alpha * diff
        state.mean += increment
        state.var = (1 - settings.alpha) * (state.var + diff * increment)
    state.seen += 1
    state.last = at
    return event
