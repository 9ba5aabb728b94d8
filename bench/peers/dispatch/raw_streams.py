"""The ceiling: a raw redis-py streams round trip, no task library at all.

Pre-fill: pipelined ``XADD`` of every task to one stream (1,000 per pipeline), consumer group
created first. Each worker process (``python -m bench.peers.dispatch.raw_streams``) loops on
``XREADGROUP COUNT 200 BLOCK 1000``, "runs" each no-op task, and answers the whole batch in one
pipeline: an ``XADD`` of a result per task to a results stream, then one ``XACK`` of the batch.
The harness collects with ``XREAD COUNT 1000 BLOCK 100`` on the results stream until it has seen
every task's result.

The ``no-results`` variant writes nothing back: workers only ``XACK``, and the harness polls
``XINFO GROUPS`` until the group has read every entry and has none pending.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import cast

import redis

from bench.peers.dispatch.harness import POLL_S, QUEUE, Run, Workers, worker_url

TASKS_STREAM = f"{QUEUE}:tasks"
RESULTS_STREAM = f"{QUEUE}:results"
GROUP = "workers"
READ_COUNT = 200
PREFILL_BATCH = 1000
COLLECT_COUNT = 1000
TASK = {b"fn": b"noop", b"args": b"[]", b"kwargs": b"{}"}

# What XREAD/XREADGROUP answer on a sync client without decoding: [(stream, [(id, fields)])].
StreamReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def _prefill(client: redis.Redis, tasks: int) -> None:
    client.xgroup_create(TASKS_STREAM, GROUP, id="0", mkstream=True)
    for start in range(0, tasks, PREFILL_BATCH):
        with client.pipeline(transaction=False) as pipe:
            for _ in range(min(PREFILL_BATCH, tasks - start)):
                pipe.xadd(TASKS_STREAM, TASK)  # type: ignore[arg-type] # bytes keys are fine
            pipe.execute()


def _argv(index: int, *, results: bool) -> list[str]:
    argv = [sys.executable, "-m", "bench.peers.dispatch.raw_streams", f"worker-{index}"]
    return argv if results else [*argv, "--no-results"]


def _run(redis_url: str, tasks: int, workers: int, *, results: bool) -> Run:
    name = "raw-streams" if results else "raw-streams-no-results"
    client = redis.Redis.from_url(redis_url)
    try:
        _prefill(client, tasks)
        argvs = [_argv(i, results=results) for i in range(workers)]
        with Workers(name, argvs, redis_url=redis_url, tasks=tasks, workers=workers) as group:
            if results:
                _collect_results(client, tasks, group)
            else:
                _wait_acked(client, tasks, group)
            return group.finish()
    finally:
        client.close()


def _collect_results(client: redis.Redis, tasks: int, group: Workers) -> None:
    seen = 0
    last: bytes | str = "0"
    while seen < tasks:
        group.check()
        reply = client.xread({RESULTS_STREAM: last}, count=COLLECT_COUNT, block=100)
        for _stream, entries in cast(StreamReply, reply or []):
            if entries:
                group.saw_result()
                seen += len(entries)
                last = entries[-1][0]


def _wait_acked(client: redis.Redis, tasks: int, group: Workers) -> None:
    while True:
        group.check()
        info = client.xinfo_groups(TASKS_STREAM)
        state = next(g for g in info if g["name"] in (GROUP, GROUP.encode()))
        if state["entries-read"] and group.first_result_at is None:
            group.saw_result()  # first batch taken: the closest this variant has to a result
        if state["entries-read"] == tasks and state["pending"] == 0:
            return
        time.sleep(POLL_S)


def run(redis_url: str, tasks: int, workers: int) -> Run:
    """Round trip with results written back and collected: the ceiling."""
    return _run(redis_url, tasks, workers, results=True)


def run_without_results(redis_url: str, tasks: int, workers: int) -> Run:
    """Only ``XREADGROUP`` + ``XACK``: the part of the round trip without the answer."""
    return _run(redis_url, tasks, workers, results=False)


# --- worker process ------------------------------------------------------------------------------


def noop() -> None:
    return None


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def work(client: redis.Redis, consumer: str, *, results: bool) -> None:
    while True:
        reply = client.xreadgroup(
            GROUP, consumer, {TASKS_STREAM: ">"}, count=READ_COUNT, block=1000
        )
        for _stream, entries in cast(StreamReply, reply or []):
            if not entries:
                continue
            ids: list[bytes] = []
            with client.pipeline(transaction=False) as pipe:
                for entry_id, _fields in entries:
                    noop()
                    if results:
                        pipe.xadd(RESULTS_STREAM, {b"task": entry_id, b"result": b"null"})
                    ids.append(entry_id)
                pipe.xack(TASKS_STREAM, GROUP, *ids)
                pipe.execute()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.dispatch.raw_streams")
    parser.add_argument("consumer")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    client = redis.Redis.from_url(worker_url())
    try:
        work(client, args.consumer, results=not args.no_results)
    except (SystemExit, KeyboardInterrupt):
        return 0
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
