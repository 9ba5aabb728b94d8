"""Fixtures: a private Valkey per session, clean keyspaces, and real service processes."""

from __future__ import annotations

import inspect
import signal
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, WorkerProcess

pytest_plugins = ["tests.demo", "tests.cluster"]  # shared: the demo service, a Valkey Cluster
LOG_TAIL_LINES = 60


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every ``async def`` test on asyncio through anyio's plugin."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.add_marker(pytest.mark.anyio)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the last lines of each process log in its ``tmp_path``
    (services, workers): on CI they are all there is to read."""
    report = yield
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and report.when == "call" and isinstance(tmp_path, Path):
        for log in sorted(tmp_path.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"{log.name} (last {len(lines)} lines)", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One private server for the session, on a free port, started by this harness."""
    server = EmbeddedServer(tmp_path_factory.mktemp("valkey"), appendonly=False)
    server.start()
    yield server
    server.stop()


def _refuse_foreign(info: dict[str, object], valkey: EmbeddedServer) -> None:
    if info["process_id"] != valkey.pid:  # never flush a server this harness did not start
        raise RuntimeError(f"refusing to flush {valkey.url}: not the harness's server")


@pytest.fixture
def store(valkey: EmbeddedServer) -> Iterator[SyncRedis]:
    """A synchronous client to the session server with an empty keyspace."""
    with SyncRedis.from_url(valkey.url) as client:
        _refuse_foreign(client.info("server"), valkey)
        client.flushall()
        yield client


@pytest.fixture
async def redis(valkey: EmbeddedServer) -> AsyncIterator[Redis]:
    """An asyncio client to the session server with an empty keyspace."""
    client = Redis.from_url(valkey.url)
    try:
        _refuse_foreign(await client.info("server"), valkey)
        await client.flushall()
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def worker_factory(
    tmp_path: Path, valkey: EmbeddedServer
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``orchestrator worker`` processes on the session server; all stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(*options: str, redis_url: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(tmp_path, redis_url or valkey.url, *options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start real service processes; every one is stopped at teardown."""
    started: list[ServiceProcess] = []

    def start(
        env: dict[str, str] | None = None, args: tuple[str, ...] = ("serve",)
    ) -> ServiceProcess:
        service = ServiceProcess(tmp_path, env or {}, args).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
