"""The process lifecycle: embedded store, signals, graceful shutdown, Redis outages."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, process_gone, wait_until


def _embedded_child(service: ServiceProcess) -> psutil.Process:
    children = psutil.Process(service.pid).children()
    (child,) = [child for child in children if "valkey-server" in child.name()]
    return child


def _embedded_url(child: psutil.Process) -> str:
    (listen,) = [conn for conn in child.net_connections() if conn.status == psutil.CONN_LISTEN]
    return f"redis://127.0.0.1:{listen.laddr.port}/0"


def _with_status(response: httpx.Response, status: int) -> httpx.Response | None:
    return response if response.status_code == status else None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_service_and_embedded_server_with_exit_0(
    tmp_path: Path, service_factory: Callable[..., ServiceProcess], sig: signal.Signals
) -> None:
    service = service_factory({"SHUTDOWN_GRACE_SEC": "3"}).wait_ready()
    child = _embedded_child(service)
    started = time.monotonic()
    assert service.stop(sig, timeout_s=10) == 0
    assert time.monotonic() - started < 3 + 2  # the grace period, plus process exit
    wait_until(lambda: process_gone(child.pid), timeout_s=5, what="the embedded server to stop")
    assert "service.stopped" in service.log
    assert "Traceback" not in service.log


def test_no_orphan_when_the_service_is_killed(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    service = service_factory().wait_ready()
    child = _embedded_child(service)
    service.stop(signal.SIGKILL)
    wait_until(
        lambda: process_gone(child.pid),
        timeout_s=10,
        what="the embedded server to follow its parent",
    )


def test_embedded_data_survives_a_restart_of_the_service(
    tmp_path: Path, service_factory: Callable[..., ServiceProcess]
) -> None:
    env = {"DATA_DIR": str(tmp_path / "kept")}
    first = service_factory(env).wait_ready()
    redis.Redis.from_url(_embedded_url(_embedded_child(first))).set("probe", "kept")
    assert first.stop() == 0
    second = service_factory(env).wait_ready()
    assert redis.Redis.from_url(_embedded_url(_embedded_child(second))).get("probe") == b"kept"


def test_readiness_follows_redis_down_and_back_without_a_crash(
    tmp_path: Path, service_factory: Callable[..., ServiceProcess]
) -> None:
    store = EmbeddedServer(tmp_path / "store")
    store.start()
    try:
        service = service_factory(
            {"REDIS_URL": store.url, "HEALTH_INTERVAL_SEC": "0.2", "REDIS_TIMEOUT_SEC": "1"}
        ).wait_ready()
        store.stop()
        down = wait_until(
            lambda: _with_status(service.get("/health/ready"), 503),
            what="readiness to report the outage",
        )
        assert "redis does not answer" in down.json()["detail"]
        assert down.headers["content-type"] == "application/problem+json"
        wait_until(
            lambda: service.get("/health").json()["redis"]["status"] == "down",
            what="/health to report redis down",
        )
        assert service.get("/health/live").status_code == 200

        store.start()  # the same port again
        service.wait_ready(timeout_s=20)
        wait_until(
            lambda: service.get("/health").json()["redis"]["status"] == "up",
            what="/health to report redis up",
        )
        health = service.get("/health").json()
        assert health["status"] == "ok"
        assert health["loops"]["redis-watch"]["alive"]
        assert service.process is not None
        assert service.process.poll() is None
    finally:
        store.stop()
    assert "redis.down" in service.log
    assert "redis.up" in service.log
    assert "Traceback" not in service.log


def _in_flight(service: ServiceProcess) -> float:
    families = text_string_to_metric_families(service.get("/metrics").text)
    (family,) = [f for f in families if f.name == "orchestrator_http_requests_in_flight"]
    return family.samples[0].value


def test_in_flight_requests_finish_before_exit(
    tmp_path: Path, service_factory: Callable[..., ServiceProcess]
) -> None:
    store = EmbeddedServer(tmp_path / "store")
    store.start()
    assert store.pid is not None
    service = service_factory({"REDIS_URL": store.url, "REDIS_TIMEOUT_SEC": "2"}).wait_ready()
    os.kill(store.pid, signal.SIGSTOP)  # readiness now waits 2 s for a PING answer
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"{service.url}/health/ready", timeout=10)
            wait_until(lambda: _in_flight(service) >= 2, what="the slow request to be in flight")
            assert service.stop(signal.SIGTERM) == 0
            answer = slow.result()
    finally:
        os.kill(store.pid, signal.SIGCONT)
        store.stop()
    assert answer.status_code == 503
    assert "no answer within 2.0s" in answer.json()["detail"]


def _workers(service: ServiceProcess) -> list[psutil.Process]:
    """The service's live worker processes (a dead one may linger as a zombie for a moment)."""
    workers = []
    for child in psutil.Process(service.pid).children():
        try:
            if "worker" in child.cmdline():
                workers.append(child)
        except psutil.Error:  # exited or a zombie
            continue
    return workers


def test_run_keeps_its_worker_processes_and_stops_them(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    service = service_factory({"SHUTDOWN_GRACE_SEC": "3"}, args=("run", "--workers", "2"))
    service.wait_ready()
    wait_until(lambda: len(_workers(service)) == 2, what="two workers")
    victim = _workers(service)[0]
    victim.kill()

    def replaced() -> bool:
        pids = {worker.pid for worker in _workers(service)}
        return len(pids) == 2 and victim.pid not in pids

    wait_until(replaced, timeout_s=20, what="the dead worker to be replaced")
    survivors = [worker.pid for worker in _workers(service)]
    assert service.stop() == 0
    wait_until(
        lambda: all(process_gone(pid) for pid in survivors),
        what="the workers to stop with the service",
    )
    assert "worker.died" in service.log
