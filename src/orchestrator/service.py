"""Running the service: the embedded store when needed, then the HTTP server, then a clean stop.

The HTTP server is granian (a Rust HTTP/1.1 + HTTP/2 server) embedded in this process's event
loop: measured against uvicorn on the same app it answered as many or more requests per second
with a p99 latency two to eight times lower (docs/benchmarks.md). SIGTERM and SIGINT stop
accepting connections, let in-flight requests and the background loops finish within
``SHUTDOWN_GRACE_SEC``, close Redis, stop the embedded server and exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import structlog
import uvloop
from granian import Granian
from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from granian.server.embed import Server as EmbeddedHttpServer

from orchestrator.app.factory import create_app
from orchestrator.app.lean import LeanApp
from orchestrator.app.rsgi import RsgiBridge
from orchestrator.config import Settings
from orchestrator.errors import HttpServerError
from orchestrator.store.connection import count_keys
from orchestrator.store.embedded import EmbeddedServer
from orchestrator.worker.pool import WorkerPool

log = structlog.get_logger(__name__)

DemoChoice = Literal["yes", "ask", "no"]

_APP_FACTORY = "orchestrator.app.factory:app_from_environment"
_SOURCE = Path(__file__).parent
# granian's own records go to the root logger, which structlog renders like every other line.
_GRANIAN_LOGGING: dict[str, Any] = {
    "loggers": {"_granian": {"handlers": [], "level": "INFO", "propagate": True}}
}


@contextmanager
def store_for(settings: Settings) -> Iterator[Settings]:
    """Yield settings naming a reachable store: REDIS_URL, or an embedded server's URL."""
    if settings.redis_url is not None:
        yield settings
        return
    server = EmbeddedServer(settings.data_dir, port=settings.embedded_port)
    server.start()
    try:
        yield settings.model_copy(update={"redis_url": server.url})
    finally:
        server.stop()


def serve(
    settings: Settings, *, reload: bool = False, workers: int = 0, demo: DemoChoice = "no"
) -> int:
    """Serve HTTP and run the loops (and ``workers`` worker processes) until a signal;
    return the process exit code. ``demo``: load the demo data ("yes"), or offer to when the
    store is empty and a person is at the terminal ("ask")."""
    with store_for(settings) as resolved:
        if reload:
            _serve_reloading(resolved)
            return 0
        load = demo == "yes" or (demo == "ask" and _wants_demo(resolved))
        uvloop.run(_serve(create_app(resolved), resolved, workers, demo=load))
        log.info("service.stopped")
        return 0


async def _serve(app: LeanApp, settings: Settings, workers: int, *, demo: bool = False) -> None:
    assert settings.redis_url is not None
    env = {"REDIS_URL": settings.redis_url, "ORCHESTRATOR_ID": f"{settings.orchestrator_id}-w"}
    pool = WorkerPool(workers, env, settings.shutdown_grace_sec)
    keeping = asyncio.ensure_future(pool.run())
    loading = asyncio.ensure_future(_load_demo(settings)) if demo else None
    try:
        await _serve_http(app, settings)
    finally:
        if loading is not None:
            loading.cancel()
        await pool.stop()
        keeping.cancel()


async def _load_demo(settings: Settings) -> None:
    from orchestrator.demo.load import load_demo_with  # noqa: PLC0415

    try:
        await load_demo_with(settings)
    except Exception:  # the service goes on without its demo
        log.exception("demo.failed")
    else:
        log.info("demo.open", url=f"http://{settings.host}:{settings.port}/v1/brands")


def _wants_demo(settings: Settings) -> bool:
    """Ask at the terminal, when there is one and the store holds nothing yet."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    assert settings.redis_url is not None
    if anyio.run(count_keys, settings, settings.redis_url) > 0:
        return False
    answer = input("The store is empty. Load the demo brands and their mentions? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _serve_http(app: LeanApp, settings: Settings) -> None:
    """Start the app's lifespan (its loops), serve until a signal, then leave the lifespan."""
    failed: HttpServerError | None = None
    async with app.router.lifespan_context(app) as state:
        try:
            await _serve_started(RsgiBridge(app, state or {}), settings)
        except HttpServerError as exc:  # raised once the loops have stopped, as it is
            failed = exc
    if failed is not None:
        raise failed


async def _serve_started(bridge: RsgiBridge, settings: Settings) -> None:
    server = EmbeddedHttpServer(
        bridge,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        websockets=False,  # none served: no upgrade handling per request
        backlog=2048,
        log_level=LogLevels.warning,
        log_dictconfig=_GRANIAN_LOGGING,
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        if not stopping.is_set():
            log.info("service.stopping", signal=signal.Signals(signum).name)
            stopping.set()
            server.stop()  # type: ignore[no-untyped-call]  # granian's embed API is untyped

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    serving = asyncio.ensure_future(server.serve())
    await asyncio.wait(
        [serving, asyncio.ensure_future(stopping.wait())], return_when="FIRST_COMPLETED"
    )
    deadline_s = 2 * settings.shutdown_grace_sec + 1
    try:
        # HTTP drains; leaving the lifespan then stops the loops (each within the grace period).
        await asyncio.wait_for(asyncio.shield(serving), timeout=deadline_s)
    except TimeoutError:
        log.warning("service.deadline", timeout_s=deadline_s)
        serving.cancel()
    except (OSError, RuntimeError) as exc:  # granian reports a failed bind as RuntimeError
        raise HttpServerError(f"cannot serve on {settings.host}:{settings.port}: {exc}") from None


def _serve_reloading(settings: Settings) -> None:
    """Development: a worker process that restarts when a source file changes. The embedded
    store lives in this parent, so data survives the restarts."""
    assert settings.redis_url is not None
    os.environ["REDIS_URL"] = settings.redis_url  # the workers build settings from the environment
    os.environ["ORCHESTRATOR_ID"] = settings.orchestrator_id
    Granian(
        _APP_FACTORY,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        reload=True,
        reload_paths=[_SOURCE],
        log_dictconfig=_GRANIAN_LOGGING,
    ).serve()
