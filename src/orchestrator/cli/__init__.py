"""The ``orchestrator`` command: parses arguments, builds settings, calls the core."""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import structlog
import typer

from orchestrator import __version__
from orchestrator.cli import brands, mentions
from orchestrator.config import Settings, load_settings
from orchestrator.errors import ConfigurationError, OrchestratorError
from orchestrator.logging import configure_logging

app = typer.Typer(
    name="orchestrator",
    help="Orchestrator of the brand-monitoring platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(brands.app)
app.add_typer(mentions.app)

EXIT_CONFIG = 2


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orchestrator {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Orchestrator of the brand-monitoring platform."""


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.orchestrator_id)
    structlog.get_logger(__name__).info(
        "settings.loaded",
        port=settings.port,
        host=settings.host,
        embedded=settings.redis_url is None,
        version=__version__,
    )
    return settings


@app.command()
def serve(
    reload: Annotated[bool, typer.Option(help="Restart on source changes (development).")] = False,
) -> None:
    """Serve the HTTP API and run the background loops (embedded store when REDIS_URL is unset)."""
    from orchestrator.service import serve as run_service  # noqa: PLC0415 - keeps --help fast

    raise typer.Exit(run_service(_settings(), reload=reload))


@app.command()
def run(
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Worker processes to run beside the service (default: CPUs)."),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Load the demo brands and mentions (default: offer to when the store is empty).",
        ),
    ] = None,
) -> None:
    """The one-machine start: the embedded store when REDIS_URL is unset, the service, and
    worker processes (restarted if one dies)."""
    from orchestrator.service import DemoChoice  # noqa: PLC0415 - keeps --help fast
    from orchestrator.service import serve as run_service  # noqa: PLC0415

    count = (os.cpu_count() or 1) if workers is None else workers
    choice: DemoChoice = "ask" if demo is None else ("yes" if demo else "no")
    raise typer.Exit(run_service(_settings(), workers=count, demo=choice))


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=4096, help="Tasks at once.")] = 16,
    kinds: Annotated[
        str | None, typer.Option(help="Comma-separated kinds to handle (default: all offered).")
    ] = None,
    handlers: Annotated[
        str, typer.Option(help="module:MAPPING of kind to async handler.")
    ] = "orchestrator.worker.handlers:HANDLERS",
    burst: Annotated[bool, typer.Option(help="Stop when no work is left.")] = False,
    visibility_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds before a silent task is given to another.")
    ] = 60.0,
) -> None:
    """Run a worker: claim tasks from the orchestrator's streams and report their results."""
    # No collections while start-up imports and connects: the worker freezes what start-up
    # made and enables them (run_worker); ~0.07 s of a worker's ~0.9 s start-up otherwise.
    gc.disable()
    try:
        from orchestrator.worker.process import WorkerOptions, run_worker  # noqa: PLC0415

        options = WorkerOptions(
            handlers=handlers,
            kinds=tuple(kind.strip() for kind in (kinds or "").split(",") if kind.strip()),
            concurrency=concurrency,
            burst=burst,
            visibility_timeout_s=visibility_timeout,
        )
        raise typer.Exit(run_worker(_settings(), options))
    finally:
        gc.enable()


@app.command()
def check(
    url: Annotated[
        str | None, typer.Option(help="Base URL of the service (default: http://127.0.0.1:PORT).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Exit 0 when the service answers GET /health/ready with 200, else print why and exit 1."""
    import httpx  # noqa: PLC0415 - keeps start-up fast

    base = url or f"http://127.0.0.1:{load_settings().port}"
    try:
        response = httpx.get(f"{base.rstrip('/')}/health/ready", timeout=timeout)
    except httpx.HTTPError as exc:
        typer.echo(f"not ready: {base} does not answer ({exc})", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        typer.echo(f"not ready: {response.status_code} {response.text[:500]}", err=True)
        raise typer.Exit(1)
    typer.echo("ready")


def main() -> None:
    """Console-script entry point: user mistakes are one line on stderr, never a traceback."""
    try:
        app()
    except OrchestratorError as exc:
        typer.echo(f"orchestrator: {exc}", err=True)
        sys.exit(EXIT_CONFIG if isinstance(exc, ConfigurationError) else 1)
