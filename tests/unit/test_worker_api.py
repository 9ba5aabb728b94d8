"""The worker SDK's public surface is deliberate: changing it is a visible decision."""

from __future__ import annotations

import orchestrator.worker


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
