"""The worker SDK's public surface is deliberate: changing it is a visible decision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orchestrator.worker


def run_probe(probe: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
    """What a fresh interpreter running ``probe`` prints, split on whitespace."""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    return done.stdout.split()


def test_the_public_names_are_pinned() -> None:
    assert sorted(orchestrator.worker.__all__) == [
        "Context",
        "Handler",
        "Reject",
        "Retry",
        "Task",
        "TaskError",
        "Worker",
        "WorkerSettings",
    ]
    for name in orchestrator.worker.__all__:
        assert getattr(orchestrator.worker, name) is not None


def test_a_worker_of_other_kinds_does_not_load_the_analyze_handler() -> None:
    """The analyze handler imports scikit-learn and trains a model (seconds of start-up)."""
    probe = (
        "import sys; from orchestrator.worker.process import DEFAULT_HANDLERS, load_handlers; "
        "handlers = load_handlers(DEFAULT_HANDLERS, ('noop',)); "
        "print(sorted(handlers), 'sklearn' in sys.modules)"
    )
    assert run_probe(probe) == ["['noop']", "False"]
    from orchestrator.worker.handlers import HANDLERS  # noqa: PLC0415 - after the probe

    assert list(HANDLERS) == ["noop", "analyze", "collect"]


def test_the_worker_command_loads_none_of_the_services_libraries() -> None:
    """Start-up is paid by every worker process: what only the service uses stays out."""
    service_only = ("prometheus_client", "httpx", "starlette", "fastapi", "uvicorn", "granian")
    probe = (
        "import sys, orchestrator.cli, orchestrator.worker.process, orchestrator.worker.handlers; "
        f"print(sorted(set({service_only!r}) & set(sys.modules)))"
    )
    assert run_probe(probe) == ["[]"]


def test_a_worker_that_cannot_start_leaves_garbage_collection_on(tmp_path: Path) -> None:
    """``orchestrator worker`` turns collections off for its start-up, and back on."""
    probe = (
        "import gc; from typer.testing import CliRunner; from orchestrator.cli import app; "
        "result = CliRunner().invoke(app, ['worker']); "
        "print(type(result.exception).__name__, gc.isenabled())"
    )
    env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    assert run_probe(probe, cwd=tmp_path, env=env) == ["ConfigurationError", "True"]


def test_a_started_process_freezes_its_start_up_and_keeps_a_larger_young_generation() -> None:
    """What the service and every worker do once started (orchestrator.gc_policy)."""
    probe = (
        "import gc; from orchestrator.gc_policy import settle_after_startup; gc.disable(); "
        "before = gc.get_freeze_count(); settle_after_startup(collect_first=True); "
        "print(gc.isenabled(), gc.get_threshold()[0], gc.get_freeze_count() > before)"
    )
    assert run_probe(probe) == ["True", "10000", "True"]
