from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator import __version__
from orchestrator.store.embedded import EmbeddedServer, free_port
from tests.harness import ServiceProcess


def _orchestrator(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_an_invalid_variable_stops_start_up_with_exit_2_and_one_line(tmp_path: Path) -> None:
    result = _orchestrator("serve", env={"PORT": "abc"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PORT" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_version(tmp_path: Path) -> None:
    result = _orchestrator("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"orchestrator {__version__}"


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _orchestrator("launch", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_fails_when_nothing_answers(tmp_path: Path) -> None:
    result = _orchestrator("check", "--url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert result.returncode == 1
    assert "not ready" in result.stderr


def test_check_passes_against_a_ready_service(
    tmp_path: Path, valkey: EmbeddedServer, service_factory: Callable[..., ServiceProcess]
) -> None:
    service = service_factory({"REDIS_URL": valkey.url}).wait_ready()
    result = _orchestrator("check", "--url", service.url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ready"


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _orchestrator(
            "serve", env={"PORT": str(port), "DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
