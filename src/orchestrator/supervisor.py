"""Background loops under one task group: each survives its own errors and stops on an event.

A loop is a ``step`` coroutine returning the seconds to wait before the next step. The
supervisor runs each step, logs and counts any exception and goes on (after the loop's error
delay; within ``outage_retry_s`` when the store was away, so every loop is back within seconds
of the store, a failover included); on shutdown it sets the stop event, gives the loops a grace
period to finish their step, then cancels them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import structlog

from orchestrator.metrics import Metrics
from orchestrator.store.connection import OUTAGES

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[float]]


@dataclass
class LoopStatus:
    """What /health reports about one loop."""

    name: str
    alive: bool = False
    iterations: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: float | None = None  # wall-clock seconds
    last_step_at: float | None = None  # of the last step that succeeded


@dataclass
class _Loop:
    step: Step
    error_delay_s: float
    status: LoopStatus


@dataclass
class Supervisor:
    """Runs the registered loops while :meth:`running` is entered."""

    metrics: Metrics
    grace_s: float
    outage_retry_s: float = 5.0  # the longest wait before a step the store's outage failed
    _loops: dict[str, _Loop] = field(default_factory=dict)
    _stopping: anyio.Event = field(default_factory=anyio.Event)
    _stopped: anyio.Event = field(default_factory=anyio.Event)

    def add(self, name: str, step: Step, *, error_delay_s: float = 1.0) -> None:
        self._loops[name] = _Loop(step, error_delay_s, LoopStatus(name))

    @property
    def statuses(self) -> list[LoopStatus]:
        return [loop.status for loop in self._loops.values()]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            for loop in self._loops.values():
                loop.status.alive = True
                group.start_soon(self._run, loop, name=loop.status.name)
            try:
                yield
            finally:
                await self._stop(group)

    async def _stop(self, group: anyio.abc.TaskGroup) -> None:
        log.info("loops.stopping", grace_s=self.grace_s)
        self._stopping.set()
        if not self._loops:
            return
        with anyio.move_on_after(self.grace_s):
            await self._stopped.wait()
        alive = [status.name for status in self.statuses if status.alive]
        if alive:
            log.warning("loops.cancelling", alive=alive)
            group.cancel_scope.cancel()
        log.info("loops.stopped")

    async def _run(self, loop: _Loop) -> None:
        status = loop.status
        gauge = self.metrics.loop_up.labels(status.name)
        gauge.set(1)
        log.info("loop.started", loop=status.name)
        try:
            while not self._stopping.is_set():
                delay = await self._step(loop)
                with anyio.move_on_after(delay):
                    await self._stopping.wait()
        finally:
            status.alive = False
            gauge.set(0)
            log.info("loop.stopped", loop=status.name)
            if not any(status.alive for status in self.statuses):
                self._stopped.set()

    async def _step(self, loop: _Loop) -> float:
        status = loop.status
        try:
            delay = await loop.step()
        except OUTAGES as exc:  # expected while the store is away: one line, no traceback
            self._failed(status, exc)
            log.warning("loop.store_unavailable", loop=status.name, error=str(exc))
            return min(loop.error_delay_s, self.outage_retry_s)
        except Exception as exc:
            self._failed(status, exc)
            log.exception("loop.error", loop=status.name)
            return loop.error_delay_s
        status.iterations += 1
        status.last_step_at = time.time()
        return delay

    def _failed(self, status: LoopStatus, exc: Exception) -> None:
        status.errors += 1
        status.last_error, status.last_error_at = repr(exc), time.time()
        self.metrics.loop_errors.labels(status.name).inc()
