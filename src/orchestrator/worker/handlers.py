"""The reference handlers, by kind. ``orchestrator worker`` runs these unless told otherwise
(``--handlers package.module:MAPPING`` loads your own kinds)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from orchestrator.protocol import Task
from orchestrator.worker.runner import Context, Handler


async def noop(task: Task, context: Context) -> None:
    """Does nothing: for smoke tests and for measuring the pipeline's own cost."""


def _analyze() -> Handler:
    from orchestrator.worker.analyze import AnalyzeHandler  # noqa: PLC0415 - scikit-learn

    return AnalyzeHandler()


def _collect() -> Handler:
    from orchestrator.worker.collect import CollectHandler  # noqa: PLC0415 - feed parsers

    return CollectHandler()


class ReferenceHandlers(Mapping[str, Handler]):
    """Kind → handler, each built the first time it is asked for: the analyze handler imports
    scikit-learn and trains its sentiment model (seconds of start-up), which a worker of other
    kinds does not pay."""

    def __init__(self, factories: Mapping[str, Callable[[], Handler]]) -> None:
        self._factories = dict(factories)
        self._built: dict[str, Handler] = {}

    def __getitem__(self, kind: str) -> Handler:
        if kind not in self._built:
            self._built[kind] = self._factories[kind]()
        return self._built[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


HANDLERS = ReferenceHandlers({"noop": lambda: noop, "analyze": _analyze, "collect": _collect})
