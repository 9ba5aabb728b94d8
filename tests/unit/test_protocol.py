from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.protocol import (
    FailureReport,
    ResultReport,
    TaskError,
    decode_envelope,
    decode_report,
    decode_task,
    encode,
    new_task,
    schemas,
    utcnow,
)

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"


def test_a_task_round_trips_as_camel_case_json() -> None:
    task = new_task("analyze", "nike", {"chunkId": "nike-1"}, fence=7, max_attempts=5)
    wire = json.loads(encode(task))
    assert {"taskId", "maxAttempts", "createdAt", "notBefore", "traceId", "fence"} <= set(wire)
    assert wire["v"] == 1
    assert decode_task(encode(task)) == task
    assert task.chunk_id == "nike-1"


def test_reports_are_told_apart_by_their_type() -> None:
    result = ResultReport(
        task_id="t", kind="noop", brand="b", worker_id="w", attempt=1, fence=1,
        result={"ok": True}, duration_ms=1.0, finished_at=utcnow(),
    )  # fmt: skip
    failure = FailureReport(
        task_id="t", kind="noop", brand="b", worker_id="w", attempt=1, fence=1,
        error=TaskError(type="E", message="m"), final=False, duration_ms=0.0,
        finished_at=utcnow(),
    )  # fmt: skip
    assert json.loads(encode(result))["type"] == "result"
    assert isinstance(decode_report(encode(result)), ResultReport)
    assert isinstance(decode_report(encode(failure)), FailureReport)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b'{"v": 1, "kind": "analyze"}', b'{"taskId": 5, "kind": "x"}'],
)
def test_invalid_tasks_are_rejected(raw: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        decode_task(raw)


def test_a_message_of_another_protocol_version_is_refused_not_misread() -> None:
    task = json.loads(encode(new_task("analyze", "nike", {}, fence=1, max_attempts=5)))
    with pytest.raises(ValueError, match="protocol version 2 is not supported"):
        decode_task(json.dumps({**task, "v": 2}))
    report = ResultReport(
        task_id="t", kind="noop", brand="b", worker_id="w", attempt=1, fence=1,
        result=None, duration_ms=1.0, finished_at=utcnow(),
    )  # fmt: skip
    with pytest.raises(ValueError, match="protocol version 3"):
        decode_envelope(json.dumps({**json.loads(encode(report)), "v": 3}))
    assert decode_envelope(encode(report)).task_id == "t"


def test_the_protocol_document_shows_the_current_schemas() -> None:
    document = DOC.read_text()
    for schema in schemas().values():
        assert json.dumps(schema, indent=2, sort_keys=True) in document
