from __future__ import annotations

import anyio
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from orchestrator.metrics import Metrics
from orchestrator.supervisor import Supervisor


async def test_a_loop_survives_its_own_errors() -> None:
    supervisor = Supervisor(Metrics(), grace_s=1.0)
    calls = 0
    recovered = anyio.Event()

    async def flaky() -> float:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ValueError(f"boom {calls}")
        recovered.set()
        return 0.0

    supervisor.add("flaky", flaky, error_delay_s=0.0)
    with capture_logs() as logs, anyio.fail_after(5):
        async with supervisor.running():
            await recovered.wait()
            (status,) = supervisor.statuses
            assert status.alive
            assert status.errors == 2
            assert status.last_error == "ValueError('boom 2')"
    assert not status.alive
    assert [entry["loop"] for entry in logs if entry["event"] == "loop.error"] == ["flaky", "flaky"]


async def test_a_loop_that_overstays_the_grace_period_is_cancelled() -> None:
    supervisor = Supervisor(Metrics(), grace_s=0.1)
    entered = anyio.Event()

    async def stubborn() -> float:
        entered.set()
        await anyio.sleep_forever()
        return 0.0

    supervisor.add("stubborn", stubborn)
    with capture_logs() as logs, anyio.fail_after(5):
        async with supervisor.running():
            await entered.wait()
    assert not supervisor.statuses[0].alive
    assert any(entry["event"] == "loops.cancelling" for entry in logs)


async def test_loop_state_is_exported_as_metrics() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, grace_s=1.0)
    stepped = anyio.Event()

    async def step() -> float:
        stepped.set()
        return 10.0

    supervisor.add("ticker", step)
    async with supervisor.running():
        await stepped.wait()
        assert metrics.registry.get_sample_value("orchestrator_loop_up", {"loop": "ticker"}) == 1
    assert metrics.registry.get_sample_value("orchestrator_loop_up", {"loop": "ticker"}) == 0


async def test_a_store_outage_is_one_line_without_a_traceback() -> None:
    supervisor = Supervisor(Metrics(), grace_s=1.0)
    failed = anyio.Event()

    async def reads_the_store() -> float:
        failed.set()
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    supervisor.add("collector", reads_the_store, error_delay_s=10)
    with capture_logs() as logs, anyio.fail_after(5):
        async with supervisor.running():
            await failed.wait()
    (entry,) = [entry for entry in logs if entry["event"] == "loop.store_unavailable"]
    assert entry["loop"] == "collector"
    assert "exc_info" not in entry
    assert not [entry for entry in logs if entry["event"] == "loop.error"]


async def test_a_loop_an_outage_failed_tries_again_soon_and_shows_it_recovered() -> None:
    supervisor = Supervisor(Metrics(), grace_s=1.0, outage_retry_s=0.01)
    calls = 0
    recovered = anyio.Event()

    async def hourly() -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        recovered.set()
        return 3600.0

    supervisor.add("retention", hourly, error_delay_s=3600.0)  # its own pace: once an hour
    with anyio.fail_after(5):
        async with supervisor.running():
            await recovered.wait()
            (status,) = supervisor.statuses
            assert status.last_error_at is not None
            assert status.last_step_at is not None
            assert status.last_error_at < status.last_step_at  # its latest step succeeded
