from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from orchestrator.config import Settings
from orchestrator.health import RedisWatch, readiness
from orchestrator.metrics import Metrics
from orchestrator.store.connection import create_client
from orchestrator.store.embedded import EmbeddedServer
from orchestrator.supervisor import Supervisor


async def test_the_watch_follows_redis_down_and_back_up(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path)
    server.start()
    metrics = Metrics()
    settings = Settings(redis_url=server.url, redis_timeout_sec=1.0)
    client = create_client(settings, server.url)
    watch = RedisWatch(client, metrics, interval_s=0.5, timeout_s=1.0)
    try:
        assert await watch.step() == 0.5
        assert watch.state.up
        server.stop()
        with capture_logs() as logs:
            delay = await watch.step()
        assert not watch.state.up
        assert watch.state.last_error
        assert 0 <= delay <= 5.0
        assert metrics.registry.get_sample_value("orchestrator_redis_up") == 0
        assert [entry["event"] for entry in logs] == ["redis.down"]
        reasons = await readiness(client, metrics, Supervisor(metrics, 1.0), timeout_s=1.0)
        assert reasons[0].startswith("redis does not answer")

        server.start()  # same port, same data directory
        with capture_logs() as logs:
            await watch.step()
        assert watch.state.up
        assert [entry["event"] for entry in logs] == ["redis.up"]
        assert await readiness(client, metrics, Supervisor(metrics, 1.0), timeout_s=1.0) == []
    finally:
        await client.aclose()
        server.stop()


async def test_ping_latency_is_a_metric(valkey: EmbeddedServer) -> None:
    metrics = Metrics()
    client = create_client(Settings(redis_url=valkey.url), valkey.url)
    watch = RedisWatch(client, metrics, interval_s=1.0, timeout_s=1.0)
    try:
        await watch.step()
    finally:
        await client.aclose()
    count = metrics.registry.get_sample_value(
        "orchestrator_redis_command_duration_seconds_count", {"operation": "ping"}
    )
    assert count == 1
