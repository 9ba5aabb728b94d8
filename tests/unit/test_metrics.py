"""The original service's metric names are still exported, beside ours."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from orchestrator.metrics import Metrics

ORIGINAL = (
    "orchestrator_brands_processed",
    "orchestrator_chunks_merged",
    "orchestrator_clusters_aggregated",
    "orchestrator_processing_time_seconds",
    "orchestrator_io_time_seconds",
    "orchestrator_redis_read_latency_seconds",
    "orchestrator_redis_write_latency_seconds",
    "orchestrator_memory_usage_bytes",
    "orchestrator_cpu_user_time_seconds",
    "orchestrator_cpu_system_time_seconds",
)
ADDED = (
    "orchestrator_results_applied",
    "orchestrator_results_duplicate",
    "orchestrator_payloads_parked",
)


def test_the_originals_names_and_ours_are_exported() -> None:
    families = {f.name for f in text_string_to_metric_families(Metrics().render().decode())}
    assert set(ORIGINAL + ADDED) <= families


def test_memory_and_cpu_are_read_at_scrape() -> None:
    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(Metrics().render().decode())
        for s in f.samples
    }
    assert samples["orchestrator_memory_usage_bytes"] > 1_000_000
    assert samples["orchestrator_cpu_user_time_seconds"] > 0
