"""Structured logging: JSON lines off a terminal, a readable console on one.

Only entry points call :func:`configure_logging`. Library code logs through
``structlog.get_logger(__name__)`` and binds ids (brand, task, chunk, request) with
``structlog.contextvars`` once per unit of work. Records from the standard library
(uvicorn, asyncio) go through the same processors and renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


class _Static:
    """Processor adding fixed fields (the orchestrator id) to every event."""

    def __init__(self, **fields: str) -> None:
        self.fields = fields

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.update(self.fields)
        return event_dict


def configure_logging(
    level: Literal["debug", "info", "warn", "error"],
    orchestrator_id: str,
    *,
    json: bool | None = None,
) -> None:
    """Configure structlog and the standard library's root logger to write to stdout."""
    as_json = not sys.stdout.isatty() if json is None else json
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _Static(orchestratorId=orchestrator_id),
    ]
    renderer: Processor
    if as_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    numeric = _LEVELS[level]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # the app logs access itself
