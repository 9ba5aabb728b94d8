"""Every Prometheus collector of the service, on one explicit registry per app."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    """The collectors, created together so tests and replicas never share a global registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        r = self.registry
        self.http_requests = Counter(
            "orchestrator_http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "orchestrator_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.http_in_flight = InFlight()
        Gauge(
            "orchestrator_http_requests_in_flight",
            "HTTP requests being answered right now (this one included).",
            registry=r,
        ).set_function(lambda: self.http_in_flight.count)
        self.redis_duration = Histogram(
            "orchestrator_redis_command_duration_seconds",
            "Latency of Redis commands and pipelines issued by the service, by operation.",
            ["operation"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.redis_errors = Counter(
            "orchestrator_redis_errors_total",
            "Redis commands that failed (connection loss, timeout), by operation.",
            ["operation"],
            registry=r,
        )
        self.writes_unconfirmed = Counter(
            "orchestrator_writes_unconfirmed_total",
            "Confirmed steps whose writes fewer than REDIS_WAIT_REPLICAS replicas confirmed in"
            " time (nothing acknowledged: answered 503, or results left to be delivered again).",
            registry=r,
        )
        self.redis_up = Gauge(
            "orchestrator_redis_up", "1 when the last Redis ping answered, else 0.", registry=r
        )
        self.brands = Gauge(
            "orchestrator_brands", "Registered brands, by status.", ["status"], registry=r
        )
        self.leader = Gauge(
            "orchestrator_scheduler_leader",
            "1 while this replica holds the scheduler lease.",
            registry=r,
        )
        self.tasks_dispatched = Counter(
            "orchestrator_tasks_dispatched_total",
            "Tasks put on the stream, by kind.",
            ["kind"],
            registry=r,
        )
        self.tasks_completed = Counter(
            "orchestrator_tasks_completed_total",
            "Task results collected, by kind.",
            ["kind"],
            registry=r,
        )
        self.tasks_failed = Counter(
            "orchestrator_tasks_failed_total",
            "Failed attempts reported by workers, by kind and outcome (retried, dead_lettered).",
            ["kind", "outcome"],
            registry=r,
        )
        self.tasks_lost = Counter(
            "orchestrator_tasks_lost_total",
            "Tasks settled by a worker and never released (a result lost in a failover), "
            "presumed lost and offered again, by kind.",
            ["kind"],
            registry=r,
        )
        self.dispatch_lag = Histogram(
            "orchestrator_dispatch_lag_seconds",
            "From a brand's due time to its task's dispatch.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.stream_length = Gauge(
            "orchestrator_stream_length", "Entries in a stream.", ["stream"], registry=r
        )
        self.stream_pending = Gauge(
            "orchestrator_stream_pending",
            "Entries delivered and not acknowledged.",
            ["stream"],
            registry=r,
        )
        self.stream_oldest_pending = Gauge(
            "orchestrator_stream_oldest_pending_seconds",
            "Age of the oldest delivered, unacknowledged entry.",
            ["stream"],
            registry=r,
        )
        self.workers = Gauge(
            "orchestrator_workers",
            "Known workers by state (alive, stale, gone).",
            ["state"],
            registry=r,
        )
        # Collection and aggregation; the first seven keep the original service's names.
        self.brands_processed = Counter(
            "orchestrator_brands_processed",
            "Brands whose aggregate a batch of results changed (once per brand and batch).",
            registry=r,
        )
        self.chunks_merged = Counter(
            "orchestrator_chunks_merged", "Chunk results merged into aggregates.", registry=r
        )
        self.clusters_aggregated = Counter(
            "orchestrator_clusters_aggregated",
            "Incoming clusters merged into a brand's clusters or added as new ones.",
            registry=r,
        )
        self.processing_time = Histogram(
            "orchestrator_processing_time_seconds",
            "CPU time to plan one batch of results (counts, buckets, cluster merges).",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.io_time = Histogram(
            "orchestrator_io_time_seconds",
            "Time waiting on Redis while applying one batch of results.",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.redis_read_latency = Histogram(
            "orchestrator_redis_read_latency_seconds",
            "Latency of the collector's Redis reads (results, clusters).",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.redis_write_latency = Histogram(
            "orchestrator_redis_write_latency_seconds",
            "Latency of the collector's Redis writes (aggregate updates).",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.results_applied = Counter(
            "orchestrator_results_applied", "Chunk results applied (exactly once).", registry=r
        )
        self.results_duplicate = Counter(
            "orchestrator_results_duplicate",
            "Chunk results skipped because their chunk was applied already.",
            registry=r,
        )
        self.aggregate_replans = Counter(
            "orchestrator_aggregate_replans",
            "Batches of one brand planned again: a duplicate found, or another replica merged"
            " the brand's clusters first.",
            ["cause"],
            registry=r,
        )
        self.payloads_parked = Counter(
            "orchestrator_payloads_parked",
            "Invalid results parked (GET /v1/failed), by reason.",
            ["reason"],
            registry=r,
        )
        self.spikes = Counter(
            "orchestrator_spikes_detected", "Spike events detected, all brands.", registry=r
        )
        self.summaries_made = Counter(
            "orchestrator_summaries_made",
            "Summaries published, by provider (grounded, llm).",
            ["provider"],
            registry=r,
        )
        self.summary_fallbacks = Counter(
            "orchestrator_summary_llm_fallbacks",
            "LLM answers not used (the grounded summary published instead), by reason.",
            ["reason"],
            registry=r,
        )
        self.llm_cache = Counter(
            "orchestrator_summary_llm_cache",
            "LLM summaries served from the per-brand cache (hit) or asked for (miss).",
            ["result"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "orchestrator_llm_tokens", "Tokens used by the LLM provider.", ["kind"], registry=r
        )
        self.llm_latency = Histogram(
            "orchestrator_llm_request_duration_seconds",
            "Time to the LLM endpoint's answer (or error).",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
            registry=r,
        )
        self.llm_breaker_open = Gauge(
            "orchestrator_llm_circuit_open",
            "1 while the circuit breaker keeps the LLM endpoint from being called.",
            registry=r,
        )
        self.alerts_sent = Counter(
            "orchestrator_alert_deliveries",
            "Spike alert delivery attempts, by outcome (delivered, retried, failed, refused,"
            " cancelled).",
            ["outcome"],
            registry=r,
        )
        ResourceCollector(self.registry)
        self.loop_up = Gauge(
            "orchestrator_loop_up", "1 while a background loop is running.", ["loop"], registry=r
        )
        self.loop_errors = Counter(
            "orchestrator_loop_errors_total",
            "Exceptions caught (and survived) by a background loop.",
            ["loop"],
            registry=r,
        )

    @contextmanager
    def redis_timer(self, operation: str) -> Iterator[None]:
        """Time one Redis operation; count it as an error if it raises."""
        started = time.perf_counter()
        try:
            yield
        except Exception:
            self.redis_errors.labels(operation).inc()
            raise
        finally:
            self.redis_duration.labels(operation).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class InFlight:
    """A count changed on the event loop's thread only: a plain integer, which the gauge reads
    when scraped (a Gauge's inc/dec take a lock, twice per request)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class ResourceCollector(Collector):
    """The original service's process gauges: resident memory and CPU time, read at scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        yield GaugeMetricFamily(
            "orchestrator_memory_usage_bytes", "Resident memory of this process.", _rss_bytes()
        )
        yield GaugeMetricFamily(
            "orchestrator_cpu_user_time_seconds", "CPU time in user mode.", usage.ru_utime
        )
        yield GaugeMetricFamily(
            "orchestrator_cpu_system_time_seconds", "CPU time in kernel mode.", usage.ru_stime
        )


def _rss_bytes() -> float:
    """Current resident set size (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        statm = Path("/proc/self/statm").read_bytes()
        return int(statm.split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
