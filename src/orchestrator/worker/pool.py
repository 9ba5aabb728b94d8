"""Worker processes beside the service (``orchestrator run``): each one restarted when it
dies, stopped with the service, and never outliving it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import structlog
from redis.backoff import ExponentialWithJitterBackoff

from orchestrator.store.embedded import die_with_parent

log = structlog.get_logger(__name__)

_RESTART_BACKOFF = ExponentialWithJitterBackoff(cap=30.0, base=0.5)


class WorkerPool:
    def __init__(self, count: int, env: dict[str, str], grace_s: float) -> None:
        self.count = count
        self.env = env
        self.grace_s = grace_s
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = False

    async def run(self) -> None:
        """Keep ``count`` workers running until :meth:`stop`."""
        await asyncio.gather(*(self._keep(slot) for slot in range(self.count)))

    async def _keep(self, slot: int) -> None:
        failures = 0
        while not self._stopping:
            process = await self._spawn(slot)
            code = await process.wait()
            if self._stopping:
                return
            failures += 1
            delay = _RESTART_BACKOFF.compute(failures)
            log.warning("worker.died", slot=slot, returncode=code, restart_in_s=round(delay, 2))
            await asyncio.sleep(delay)

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        parent = os.getpid()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator", "worker",
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=lambda: die_with_parent(parent),
        )  # fmt: skip
        self.processes[slot] = process
        log.info("worker.spawned", slot=slot, pid=process.pid)
        return process

    async def stop(self) -> None:
        """SIGTERM every worker (in-flight tasks finish), SIGKILL those past the grace period."""
        self._stopping = True
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(p.wait() for p in running)), timeout=self.grace_s + 2
            )
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    process.kill()
            log.warning("workers.killed", after_s=self.grace_s + 2)
        log.info("workers.stopped", count=len(running))
