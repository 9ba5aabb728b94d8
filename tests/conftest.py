"""Fixtures: a private Valkey per session, clean keyspaces, and real service processes."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every ``async def`` test on asyncio through anyio's plugin."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.add_marker(pytest.mark.anyio)


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


@pytest.fixture
async def redis(valkey: EmbeddedServer) -> AsyncIterator[Redis]:
    """A client to the session server with an empty keyspace."""
    client = Redis.from_url(valkey.url)
    info = await client.info("server")
    if info["process_id"] != valkey.pid:  # never flush a server this harness did not start
        await client.aclose()
        raise RuntimeError(f"refusing to flush {valkey.url}: not the harness's server")
    await client.flushall()
    yield client
    await client.aclose()


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
