"""/v1/tasks: the pipeline's statistics and its dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Path, Query
from starlette.exceptions import HTTPException
from starlette.responses import Response

from orchestrator.app.auth import require_read, require_write
from orchestrator.app.deps import ServicesDep
from orchestrator.app.models import problem_responses
from orchestrator.dispatch import StreamStats
from orchestrator.protocol import DeadLetter, Task, TaskError
from orchestrator.types import CamelModel

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
_PROBLEMS = problem_responses(401, 404, 422)
TaskIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
_encode = msgspec.json.Encoder().encode


class Leader(CamelModel):
    orchestrator_id: str | None
    since: datetime | None
    fence: int


class StreamState(CamelModel):
    name: str
    length: int
    pending: int
    lag: int | None
    oldest_pending_ms: int | None


class BrandTasks(CamelModel):
    in_flight: int
    backlog: int  # chunks cut and not yet applied


class TaskStats(CamelModel):
    """The scheduler's leader, the streams, dead letters, and the brands with work in flight."""

    leader: Leader
    streams: list[StreamState]
    dead_letters: int
    in_flight: int
    brands: dict[str, BrandTasks]


class DeadLetterItem(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    task_id: str | None
    kind: str | None
    brand: str | None
    error: TaskError
    worker_id: str
    attempts: int
    dead_at: datetime
    task: Task | None
    raw: str | None


@router.get("/stats", response_model=TaskStats, dependencies=[Depends(require_read)])
async def task_stats(services: ServicesDep) -> Response:
    queue, keys = services.queue, services.registry.keys
    leadership = await services.lease.current()
    streams = await queue.stream_stats()
    in_flight = await queue.in_flight()
    total = in_flight.pop("*", 0)
    async with services.redis.pipeline(transaction=False) as pipe:
        for slug in in_flight:
            pipe.hlen(keys.pending_chunks(slug))
        backlogs = await pipe.execute()
    stats = TaskStats(
        leader=Leader(
            orchestrator_id=leadership.owner,
            since=datetime.fromtimestamp(leadership.since_ms / 1000, UTC)
            if leadership.since_ms
            else None,
            fence=leadership.fence,
        ),
        streams=[_stream_state(stream) for stream in streams],
        dead_letters=sum(stream.length for stream in streams if stream.dead),
        in_flight=total,
        brands={
            slug: BrandTasks(in_flight=count, backlog=backlog)
            for (slug, count), backlog in zip(in_flight.items(), backlogs, strict=True)
        },
    )
    return Response(stats.to_json(), media_type="application/json")


def _stream_state(stream: StreamStats) -> StreamState:
    return StreamState(
        name=stream.name, length=stream.length, pending=stream.pending, lag=stream.lag,
        oldest_pending_ms=stream.oldest_pending_ms,
    )  # fmt: skip


def _item(entry_id: str, letter: DeadLetter) -> DeadLetterItem:
    task = letter.task
    return DeadLetterItem(
        id=entry_id, task_id=task.task_id if task else None, kind=task.kind if task else None,
        brand=task.brand if task else None, error=letter.error, worker_id=letter.worker_id,
        attempts=letter.attempts, dead_at=letter.dead_at, task=task, raw=letter.raw,
    )  # fmt: skip


@router.get("/dead", dependencies=[Depends(require_read)], responses=_PROBLEMS)
async def dead_letters(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d+-\d+(\.\d+)?$")] = None,
) -> Response:
    """Dead letters, oldest first: each task with its last error, worker and attempts."""
    page = await services.queue.dead_page(limit, cursor)
    body = {
        "items": [_item(entry_id, letter) for entry_id, letter in page.letters],
        "nextCursor": page.next_cursor,
    }
    return Response(_encode(body), media_type="application/json")


@router.post(
    "/dead/{task_id}/retry",
    dependencies=[Depends(require_write)],
    responses=_PROBLEMS,
)
async def retry_dead_letter(task_id: TaskIdPath, services: ServicesDep) -> Response:
    """Put the task back on the stream as a first attempt."""
    if not await services.queue.redrive(task_id):
        raise HTTPException(404, f"no dead letter for task {task_id!r}")
    return Response(_encode({"taskId": task_id, "status": "queued"}), media_type="application/json")


@router.delete(
    "/dead/{task_id}", status_code=204, dependencies=[Depends(require_write)], responses=_PROBLEMS
)
async def delete_dead_letter(task_id: TaskIdPath, services: ServicesDep) -> Response:
    """Forget a dead letter."""
    if not await services.queue.delete_dead(task_id):
        raise HTTPException(404, f"no dead letter for task {task_id!r}")
    return Response(status_code=204)
