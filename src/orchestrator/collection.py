"""The collection side of a replica, wired from settings: the results-stream collector, the
legacy lists reader, the aggregator, the parking lot, the spike watch, summaries and alerts."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.aggregator import Aggregator
from orchestrator.alerts import Alerts
from orchestrator.collect import Collector
from orchestrator.config import Settings
from orchestrator.legacy_results import LegacyResults
from orchestrator.llm import LLMWriter
from orchestrator.parking import ParkingLot
from orchestrator.registry import Registry
from orchestrator.results import ResultIntake
from orchestrator.spike_watch import SpikeWatch
from orchestrator.summaries import Summaries, SummaryWatch


@dataclass(frozen=True)
class Collection:
    alerts: Alerts
    aggregator: Aggregator
    parking: ParkingLot
    spikes: SpikeWatch
    intake: ResultIntake
    collectors: list[Collector]  # one per stream partition
    legacy: LegacyResults
    summaries: SummaryWatch


def build_collection(registry: Registry, settings: Settings) -> Collection:
    """Everything that turns results into aggregates, on the registry's store and metrics."""
    redis, keys, metrics = registry.redis, registry.keys, registry.metrics
    spikes = SpikeWatch(
        redis, keys, metrics, settings.spike_settings(), max_wait_s=settings.spike_max_wait_sec
    )
    aggregator = Aggregator(
        redis, keys, metrics, settings.aggregation_settings(), registry.durability
    )
    parking = ParkingLot(
        redis,
        keys,
        metrics,
        keep_total=settings.failed_keep,
        keep_per_brand=settings.failed_keep_per_brand,
    )
    llm_settings = settings.llm_settings()
    writer = None if llm_settings is None else LLMWriter(redis, keys, metrics, llm_settings)
    summaries = SummaryWatch(
        Summaries(redis, keys, registry, metrics, settings.summary_settings(), writer)
    )
    spikes.on_spike = summaries.now

    def applied(brands: set[str]) -> None:
        spikes.touched(brands)
        summaries.touched(brands)

    intake = ResultIntake(registry, aggregator, parking, on_applied=applied)
    collectors = [
        Collector(
            redis,
            keys,
            metrics,
            intake,
            consumer=settings.orchestrator_id,
            partition=partition,
            claim_idle_s=settings.result_claim_idle_sec,
        )
        for partition in keys.all_partitions
    ]
    legacy = LegacyResults(
        redis,
        keys,
        registry,
        intake,
        settings.orchestrator_id,
        poll_s=settings.legacy_poll_sec,
        lease_s=settings.legacy_lease_sec,
    )
    alerts = Alerts(
        redis,
        keys,
        registry,
        summaries.summaries,
        metrics,
        owner=settings.orchestrator_id,
        settings=settings.alert_settings(),
    )
    return Collection(alerts, aggregator, parking, spikes, intake, collectors, legacy, summaries)
