"""The reference handlers, by kind. ``orchestrator worker`` runs these unless told otherwise
(``--handlers package.module:MAPPING`` loads your own kinds)."""

from __future__ import annotations

from orchestrator.protocol import Task
from orchestrator.worker.analyze import AnalyzeHandler
from orchestrator.worker.collect import CollectHandler
from orchestrator.worker.runner import Context, Handler


async def noop(task: Task, context: Context) -> None:
    """Does nothing: for smoke tests and for measuring the pipeline's own cost."""


HANDLERS: dict[str, Handler] = {
    "noop": noop,
    "analyze": AnalyzeHandler(),
    "collect": CollectHandler(),
}
