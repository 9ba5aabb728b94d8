"""Running the service: the embedded store when needed, then uvicorn, then a clean stop.

SIGTERM and SIGINT stop accepting connections, drain in-flight requests and the background
loops within ``SHUTDOWN_GRACE_SEC``, close Redis, stop the embedded server and exit 0.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from orchestrator.app.factory import create_app
from orchestrator.config import Settings
from orchestrator.store.embedded import EmbeddedServer

log = structlog.get_logger(__name__)

_APP_FACTORY = "orchestrator.app.factory:app_from_environment"
_SOURCE = str(Path(__file__).parent)


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


def serve(settings: Settings, *, reload: bool = False) -> int:
    """Serve HTTP and run the loops until a signal; return the process exit code."""
    with store_for(settings) as resolved, _signals_end_quietly():
        options = _uvicorn_options(resolved)
        if reload:
            assert resolved.redis_url is not None
            # the reloaded workers build their settings from the environment
            os.environ["REDIS_URL"] = resolved.redis_url
            os.environ["ORCHESTRATOR_ID"] = resolved.orchestrator_id
            uvicorn.run(_APP_FACTORY, factory=True, reload=True, reload_dirs=[_SOURCE], **options)
            return 0
        server = uvicorn.Server(uvicorn.Config(create_app(resolved), **options))
        server.run()
        log.info("service.stopped")
        return 0 if server.started else 1


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_grace_sec)),
        "lifespan": "on",
    }


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises the signal that stopped it once it is done; make that a no-op, so a
    requested stop ends with exit code 0 after our own cleanup instead of killing us."""
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
