"""The messages that cross Redis between the orchestrator and workers (docs/protocol.md).

Versioned camelCase JSON (``"v": 1``) in the field ``m`` of each stream entry, so a worker in
any language can join. Decoding is msgspec: typed, strict, fast enough for the hot loops.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from orchestrator.chunk_result import ChunkResult

VERSION = 1
FIELD = b"m"  # the stream entry field that holds the JSON message


class Task(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One unit of work. ``payload`` depends on ``kind`` (see docs/protocol.md)."""

    v: int = VERSION
    task_id: str
    kind: str
    brand: str
    payload: dict[str, Any] = {}
    attempt: int = 1
    max_attempts: int = 5
    created_at: datetime
    not_before: datetime | None = None
    fence: int = 0
    trace_id: str

    def __post_init__(self) -> None:
        _known_version(self.v)

    @property
    def chunk_id(self) -> str | None:
        chunk = self.payload.get("chunkId")
        return chunk if isinstance(chunk, str) else None


class TaskError(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Why a task failed: the exception type and message, and whether to try again."""

    type: str
    message: str
    retryable: bool = True


class _Report(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """What every report says about its task and attempt."""

    v: int = VERSION
    task_id: str
    kind: str
    brand: str
    worker_id: str
    attempt: int
    fence: int
    chunk_id: str | None = None

    def __post_init__(self) -> None:
        _known_version(self.v)

    duration_ms: float
    finished_at: datetime


class ResultReport(_Report, frozen=True, tag="result"):
    """A task's result, published before the task is acknowledged."""

    result: Any = None


class FailureReport(_Report, frozen=True, tag="failure"):
    """A failed attempt; ``final`` when it went to the dead-letter stream."""

    error: TaskError
    final: bool


Report = ResultReport | FailureReport


class ResultEnvelope(_Report, frozen=True, tag="result"):
    """A result report as the collector reads it: ``result`` left undecoded until its kind
    says what it is (an ``analyze`` task's result is a chunk result)."""

    result: msgspec.Raw = msgspec.Raw(b"null")


class Delivery(msgspec.Struct, frozen=True):
    """One entry read from a task stream: its id, the task, or why it is not one."""

    stream: str
    entry_id: bytes
    raw: bytes
    task: Task | None
    problem: str | None = None  # set when ``raw`` is not a valid task
    partition: int = 0  # the stream partition it was read from (Keys.partition)


class DeadLetter(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """A task that will not be tried again on its own: re-drive it through the API."""

    v: int = VERSION
    task: Task | None
    raw: str | None = None  # the entry as received, when it was not a valid task
    error: TaskError
    worker_id: str
    attempts: int
    dead_at: datetime


class Heartbeat(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """What a worker publishes every few seconds (a key with a TTL)."""

    v: int = VERSION
    worker_id: str
    host: str
    pid: int
    kinds: list[str]
    concurrency: int
    in_flight: int
    processed: int
    failed: int
    started_at: datetime
    sent_at: datetime
    version: str


def _known_version(v: int) -> None:
    """A message of another protocol version is refused, not misread: a task is dead-lettered
    with this reason, a report parked with it."""
    if v != VERSION:
        raise ValueError(f"protocol version {v} is not supported (this side speaks {VERSION})")


_encoder = msgspec.json.Encoder()
encode = _encoder.encode
decode_task = msgspec.json.Decoder(Task).decode
decode_report = msgspec.json.Decoder(Report).decode
decode_envelope = msgspec.json.Decoder(ResultEnvelope | FailureReport).decode
decode_dead = msgspec.json.Decoder(DeadLetter).decode
decode_heartbeat = msgspec.json.Decoder(Heartbeat).decode

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_task(
    kind: str,
    brand: str,
    payload: dict[str, Any],
    *,
    fence: int,
    max_attempts: int,
) -> Task:
    return Task(
        task_id=uuid.uuid4().hex,
        kind=kind,
        brand=brand,
        payload=payload,
        max_attempts=max_attempts,
        created_at=utcnow(),
        fence=fence,
        trace_id=uuid.uuid4().hex,
    )


def schemas() -> dict[str, Any]:
    """JSON Schemas of every message, for docs/protocol.md and for workers in other languages."""
    kinds: dict[str, Any] = {
        "task": Task,
        "result": ResultReport,
        "failure": FailureReport,
        "deadLetter": DeadLetter,
        "heartbeat": Heartbeat,
        "chunkResult": ChunkResult,
    }
    return {name: msgspec.json.schema(kind) for name, kind in kinds.items()}
