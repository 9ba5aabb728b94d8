"""A worker process: settings, handlers, signals. The first SIGTERM/SIGINT stops claiming and
lets tasks in flight finish within the grace period; a second one exits at once."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
import uvloop

from orchestrator.config import Settings
from orchestrator.errors import ConfigurationError
from orchestrator.gc_policy import settle_after_startup
from orchestrator.store.connection import connect, create_client
from orchestrator.worker.runner import Handler, Worker, WorkerSettings

log = structlog.get_logger(__name__)

DEFAULT_HANDLERS = "orchestrator.worker.handlers:HANDLERS"


@dataclass(frozen=True)
class WorkerOptions:
    handlers: str = DEFAULT_HANDLERS
    kinds: tuple[str, ...] = ()  # empty: every kind the handlers module offers
    concurrency: int = 16
    burst: bool = False
    visibility_timeout_s: float = 60.0
    worker_id: str | None = None


def load_handlers(spec: str, kinds: tuple[str, ...]) -> dict[str, Handler]:
    """``module:ATTRIBUTE`` (a mapping of kind → handler), narrowed to ``kinds`` if given."""
    module_name, _, attribute = spec.partition(":")
    try:
        mapping = getattr(importlib.import_module(module_name), attribute or "HANDLERS")
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--handlers {spec}: {exc}") from None
    if not isinstance(mapping, Mapping):
        raise ConfigurationError(f"--handlers {spec}: not a mapping of kind to handler")
    unknown = sorted(set(kinds) - set(mapping))
    if unknown:
        offered = ", ".join(sorted(mapping))
        raise ConfigurationError(
            f"--kinds: {', '.join(unknown)} not in {spec} (it offers {offered})"
        )
    return {kind: mapping[kind] for kind in (kinds or tuple(mapping))}


def run_worker(settings: Settings, options: WorkerOptions) -> int:
    if settings.redis_url is None:
        raise ConfigurationError("REDIS_URL: a worker needs the orchestrator's Redis URL")
    handlers = load_handlers(options.handlers, options.kinds)
    uvloop.run(_run(settings, options, handlers))
    return 0


async def _run(settings: Settings, options: WorkerOptions, handlers: dict[str, Handler]) -> None:
    assert settings.redis_url is not None
    client = create_client(settings, settings.redis_url)
    await connect(client)
    worker = Worker(
        client,
        handlers,
        keys=settings.keys(),
        settings=WorkerSettings(
            concurrency=options.concurrency,
            burst=options.burst,
            visibility_timeout_s=options.visibility_timeout_s,
            grace_s=settings.shutdown_grace_sec,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
        ),
        worker_id=options.worker_id,
    )
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if worker.stopping:
            log.warning("worker.exit_now", signal=signal.Signals(signum).name)
            os._exit(1)
        worker.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    settle_after_startup(collect_first=False)
    try:
        await worker.run()
    finally:
        await client.aclose()
