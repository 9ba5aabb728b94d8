"""The worker SDK: run handlers for the orchestrator's tasks.

    from orchestrator.worker import Worker, Retry

    async def analyze(task: Task, context: Context) -> dict[str, object]:
        ...  # return the chunk result; raise Retry(defer_s=30) to try again later

    await Worker(redis, {"analyze": analyze}).run()

The wire protocol, for workers in other languages, is in docs/protocol.md.
"""

from orchestrator.protocol import Task, TaskError
from orchestrator.worker.runner import Context, Handler, Reject, Retry, Worker, WorkerSettings

__all__ = [
    "Context",
    "Handler",
    "Reject",
    "Retry",
    "Task",
    "TaskError",
    "Worker",
    "WorkerSettings",
]
