"""What every dispatch peer shares: the result type, worker processes with RSS sampling, waits.

Kept to the standard library at import time: worker processes import the peer modules, which
import this one, and anything loaded here would count in their RSS. psutil is imported by the
sampler thread of the harness process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

ROOT = Path(__file__).resolve().parents[3]
LOGS_DIR = ROOT / "bench" / "results" / "logs"
VENV_BIN = Path(sys.executable).parent
#: Worker processes find the Valkey URL here (the worker CLIs take no URL of their own).
URL_ENV = "BENCH_DISPATCH_REDIS_URL"
#: Queue / stream name every peer uses, so a FLUSHALL between runs is all the cleaning needed.
QUEUE = "bench-dispatch"
# VmHWM is the kernel's high-water mark: a sample only has to come before a process exits, and
# ``finish`` takes one. The sampler walks every process of the machine (psutil's children) from a
# thread of the process that collects results, so it runs rarely.
SAMPLE_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 5.0
POLL_S = 0.002  # sleep between "is the next result there?" checks when it is not
MIN_RATE = 100.0  # a run slower than this many tasks/s (after 60 s of grace) is called hung
LOG_TAIL_LINES = 8

T = TypeVar("T")


class PeerUnavailable(Exception):  # noqa: N818 - the harness reports it as "skipped", not an error
    """The peer cannot run on this machine (library missing, not built yet): skip it."""


class PeerRunError(Exception):
    """A run of the peer failed (a worker exited, no progress, wrong count): skip the peer."""


@dataclass
class Run:
    """One drain: ``tasks`` no-op tasks through ``workers`` worker processes of ``peer``."""

    peer: str
    workers: int
    tasks: int
    seconds: float  # first worker process started -> last result collected
    first_result_s: float | None  # first worker process started -> first result collected
    worker_rss_peak_bytes: int  # sum over the worker processes of each one's peak RSS
    worker_processes: int  # processes seen in the worker trees (CLI parents included)

    @property
    def tasks_per_s(self) -> float:
        """The figure of the benchmark: worker start-up included."""
        return self.tasks / self.seconds if self.seconds > 0 else 0.0

    @property
    def drain_tasks_per_s(self) -> float | None:
        """From the first result to the last: the steady rate, start-up left out."""
        if self.first_result_s is None or self.tasks < 2:
            return None
        span = self.seconds - self.first_result_s
        return (self.tasks - 1) / span if span > 0 else None


def load(module: str) -> Any:
    """Import a peer library at run time, typed ``Any``.

    The peer libraries are installed by the benchmark, not by the project, so ``make lint``
    (mypy --strict) runs where they are absent; a static import would fail there, and half of
    them ship no annotations anyway. ``ModuleNotFoundError`` here means the peer is missing.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise PeerUnavailable(f"{error.name} is not installed") from error


def worker_url() -> str:
    """The Valkey URL inside a worker process (set by :class:`Workers`)."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"{URL_ENV} is not set: this is only imported by dispatch workers")
    return url


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: a worker gets SIGTERM if the harness dies without cleaning up."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _peak_rss_bytes(pid: int) -> int | None:
    """The kernel's high-water mark of the process's resident set (VmHWM), in bytes."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


class Workers:
    """Start the worker processes of one run, watch them, sample their RSS, always stop them.

    ``argvs`` is one argument list per process started (a CLI that forks its own workers
    gets one list). Every process gets its own session, so stopping it stops its children;
    the clock of the run starts right before the first one is started.
    """

    def __init__(
        self,
        peer: str,
        argvs: Sequence[Sequence[str]],
        *,
        redis_url: str,
        tasks: int,
        workers: int,
    ) -> None:
        self.peer = peer
        self.argvs = [list(argv) for argv in argvs]
        self.tasks = tasks
        self.workers = workers
        self.env = {
            **os.environ,
            URL_ENV: redis_url,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = LOGS_DIR / f"dispatch-{peer}-w{workers}.log"
        self.timeout_s = 60.0 + tasks / MIN_RATE
        self.started_at = 0.0
        self.first_result_at: float | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self._peaks: dict[int, int] = {}
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> Self:
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.started_at = time.perf_counter()
            try:
                for argv in self.argvs:
                    self._processes.append(
                        subprocess.Popen(
                            argv,
                            cwd=ROOT,
                            env=self.env,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=_die_with_parent,  # noqa: PLW1509 - harness main thread
                        )
                    )
            except OSError as error:
                self.stop()
                raise PeerRunError(f"cannot start {argv[0]}: {error}") from error
        self._sampler = threading.Thread(target=self._sample_loop, name="rss", daemon=True)
        self._sampler.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- during the run -----------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at

    def saw_result(self) -> None:
        """Note the first collected result (cheap to call for every one)."""
        if self.first_result_at is None:
            self.first_result_at = time.perf_counter()

    def check(self) -> None:
        """Raise :class:`PeerRunError` if a worker process failed or the run is hung. A worker
        that exits with 0 found nothing left to take (burst mode): the others finish."""
        for process in self._processes:
            code = process.poll()
            if code not in (None, 0):
                raise PeerRunError(
                    f"worker process exited with {code} after {self.elapsed():.1f}s: "
                    f"{tail(self.log_path)}"
                )
        if self.elapsed() > self.timeout_s:
            raise PeerRunError(
                f"not done after {self.timeout_s:.0f}s (less than {MIN_RATE:.0f} tasks/s): "
                f"{tail(self.log_path)}"
            )

    def remaining_s(self) -> float:
        return max(0.1, self.timeout_s - self.elapsed())

    def finish(self) -> Run:
        """The figures of a run whose every result has been collected: call it right then."""
        seconds = self.elapsed()
        self._sample()
        first = self.first_result_at
        return Run(
            peer=self.peer,
            workers=self.workers,
            tasks=self.tasks,
            seconds=seconds,
            first_result_s=None if first is None else first - self.started_at,
            worker_rss_peak_bytes=sum(self._peaks.values()),
            worker_processes=len(self._peaks),
        )

    # --- RSS ------------------------------------------------------------------------------------

    def _sample(self) -> None:
        import psutil  # noqa: PLC0415 - harness process only (see the module docstring)

        for process in self._processes:
            try:
                root = psutil.Process(process.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for member in tree:
                peak = _peak_rss_bytes(member.pid)
                if peak is None:
                    with contextlib.suppress(psutil.Error):
                        peak = member.memory_info().rss
                if peak is not None:
                    self._peaks[member.pid] = max(peak, self._peaks.get(member.pid, 0))

    def _sample_loop(self) -> None:
        while not self._stop_sampling.wait(SAMPLE_INTERVAL_S):
            self._sample()

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after STOP_TIMEOUT_S."""
        self._stop_sampling.set()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # also any child it left behind
            process.wait()
        self._processes.clear()


def wait_in_order(items: Sequence[T], ready: Callable[[T], bool], workers: Workers) -> None:
    """Collect one result per item, in enqueue order; ``ready`` fetches it or says not yet."""
    for item in items:
        while not ready(item):
            workers.check()
            time.sleep(POLL_S)
        workers.saw_result()


async def wait_in_order_async(
    items: Sequence[T], ready: Callable[[T], Awaitable[bool]], workers: Workers
) -> None:
    """:func:`wait_in_order` for asyncio clients."""
    for item in items:
        while not await ready(item):
            workers.check()
            await asyncio.sleep(POLL_S)
        workers.saw_result()


async def gather_chunked(
    calls: int, call: Callable[[], Awaitable[T]], concurrency: int = 100
) -> list[T]:
    """``calls`` awaits of ``call()``, ``concurrency`` at a time (pre-filling without bulk API)."""
    done: list[T] = []
    while len(done) < calls:
        batch = min(concurrency, calls - len(done))
        done.extend(await asyncio.gather(*(call() for _ in range(batch))))
    return done
