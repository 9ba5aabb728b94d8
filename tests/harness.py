"""Test harness: real processes, private servers, and waiting on conditions (never sleeps)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

from orchestrator.config import Settings
from orchestrator.store.embedded import EmbeddedServer, free_port

T = TypeVar("T")

# Every setting: a developer's shell may hold any of them (READ_API_KEY, STREAM_PARTITIONS, ...)
# and each would change what a test process does.
_SCRUBBED = frozenset(name.upper() for name in Settings.model_fields)


def wait_until(
    condition: Callable[[], T | None], *, timeout_s: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return True
    return status == psutil.STATUS_ZOMBIE


@contextmanager
def stopped(server: EmbeddedServer) -> Iterator[None]:
    """``server`` frozen (SIGSTOP) while inside: it keeps its connections and answers nothing."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


REPOSITORY = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """``orchestrator worker`` running the end-to-end handlers (tests/e2e/handlers.py)."""

    def __init__(self, workdir: Path, redis_url: str, *options: str) -> None:
        self.log_path = workdir / f"worker-{id(self)}.log"
        env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
        env.update({"REDIS_URL": redis_url, "PYTHONPATH": str(REPOSITORY)})
        argv = [
            sys.executable, "-m", "orchestrator", "worker",
            "--handlers", "tests.e2e.handlers:HANDLERS", *options,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        return stop_process(self.process, sig, timeout_s)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, timeout_s: float) -> int:
    """Send ``sig`` and return the exit code (killing the process if it overstays)."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{process.args!r} ignored {sig.name} for {timeout_s}s") from None
    return process.returncode


class ServiceProcess:
    """The real service (``python -m orchestrator``) in its own process on a free port."""

    def __init__(self, workdir: Path, env: dict[str, str], args: tuple[str, ...] = ("serve",)):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
        self.env.update(
            {"PORT": str(self.port), "HOST": "127.0.0.1", "DATA_DIR": str(workdir / "data")}
        )
        self.env.update(env)
        self.log_path = workdir / f"service-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServiceProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", *self.args],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> ServiceProcess:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"service exited with {self.process.returncode}:\n{self.log}")
            return self.get("/health/ready").status_code == 200

        wait_until(ready, timeout_s=timeout_s, what=f"{self.url}/health/ready")
        return self

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        try:
            return httpx.get(f"{self.url}{path}", timeout=5.0, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            return httpx.Response(599)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        assert self.process is not None
        return stop_process(self.process, sig, timeout_s)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
