from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
import redis

from orchestrator.errors import EmbeddedServerError
from orchestrator.store.embedded import EmbeddedServer
from tests.harness import process_gone, wait_until


def test_data_survives_a_restart(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        redis.Redis.from_url(server.url).set("brands:list:probe", "kept")
    with EmbeddedServer(tmp_path) as server:
        assert redis.Redis.from_url(server.url).get("brands:list:probe") == b"kept"


def test_it_listens_on_loopback_only(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        bind = redis.Redis.from_url(server.url).config_get("bind")["bind"]
        assert bind == "127.0.0.1"


def test_two_servers_never_share_a_data_directory(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path), pytest.raises(EmbeddedServerError, match="in use"):
        EmbeddedServer(tmp_path).start()


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, binary=tmp_path / "no-such-server")
    with pytest.raises(EmbeddedServerError, match="does not exist"):
        server.start()


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path / "a") as first:
        taken = EmbeddedServer(tmp_path / "b", port=first.port)
        with pytest.raises(EmbeddedServerError, match="exited"):
            taken.start()


def test_no_orphan_when_the_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from orchestrator.store.embedded import EmbeddedServer
        server = EmbeddedServer(Path({str(tmp_path)!r}))
        server.start()
        print("PID", server.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        while not line.startswith(b"PID "):
            line = parent.stdout.readline()
        child_pid = int(line.split()[1])
        assert psutil.pid_exists(child_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    wait_until(lambda: process_gone(child_pid), timeout_s=10, what="the orphaned server to exit")
