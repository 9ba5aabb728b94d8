"""Scheduler, workers and collector against a real server, in one process."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
import structlog
from redis.asyncio import Redis
from structlog.testing import capture_logs

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collect import Collector
from orchestrator.dispatch import WORKERS_GROUP, TaskQueue
from orchestrator.keys import Keys
from orchestrator.leader import Lease
from orchestrator.mentions import MentionStore
from orchestrator.metrics import Metrics
from orchestrator.protocol import FIELD, Delivery, Task, TaskError, decode_task, encode, new_task
from orchestrator.registry import Registry
from orchestrator.scheduler import Scheduler
from orchestrator.store.streams import group_entries, read_range, read_range_reverse
from orchestrator.worker import Context, Retry, Worker, WorkerSettings
from tests.collection import build, chunk_result, publish, report

KEYS = Keys()
FAST = WorkerSettings(
    block_ms=50, visibility_timeout_s=0.5, burst=True, backoff_base_ms=1, backoff_cap_ms=20
)


@pytest.fixture
async def parts(redis: Redis) -> tuple[Registry, Scheduler, Collector]:
    metrics = Metrics()
    lease = Lease(redis, KEYS, "replica-a", ttl_s=5)
    return (
        Registry(redis, KEYS, metrics),
        Scheduler(redis, KEYS, lease, metrics),
        build(redis, consumer="replica-a").collector,
    )


async def add_brand(
    registry: Registry, redis: Redis, slug: str, mentions: int, **fields: Any
) -> None:
    spec = BrandCreate.model_validate({"name": slug, "keywords": [slug], **fields})
    await registry.create(new_brand(spec, now()))
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(mentions):
            pipe.xadd(KEYS.mentions(slug), {"m": f'{{"id": "{slug}-m{i}"}}'})
        await pipe.execute()


async def drain(
    scheduler: Scheduler, collector: Collector, worker: Worker, rounds: int = 50
) -> None:
    """Alternate scheduling, working (until idle) and collecting, as the loops would."""
    for _ in range(rounds):
        await scheduler.step()
        await Worker(worker.redis, worker.handlers, settings=FAST, worker_id=worker.worker_id).run()
        reports = await collector._read()
        if reports:
            await collector.apply(reports)
        elif await redis_idle(scheduler):
            return


async def redis_idle(scheduler: Scheduler) -> bool:
    in_flight = await scheduler.queue.in_flight()
    return not in_flight


async def test_every_chunk_is_handled_exactly_once_within_the_cap(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, collector = parts
    await add_brand(registry, redis, "nike", 95, chunkSize=10, maxInFlight=2)
    handled: Counter[str] = Counter()
    running, peak = 0, 0

    async def analyze(task: Task, _: Context) -> dict[str, int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        handled[task.payload["chunkId"]] += 1
        running -= 1
        return {"count": task.payload["count"]}

    worker = Worker(redis, {"analyze": analyze}, settings=FAST, worker_id="w1")
    await drain(scheduler, collector, worker)
    assert sorted(handled) == sorted(f"nike-{i}" for i in range(1, 10))  # 9 full chunks
    assert set(handled.values()) == {1}
    assert peak <= 2
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 0
    assert await scheduler.queue.in_flight() == {}


async def test_a_failing_task_is_retried_then_dead_lettered_then_redriven(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, collector = parts
    await add_brand(registry, redis, "nike", 10, chunkSize=10)
    attempts: list[int] = []
    healthy = False

    async def analyze(task: Task, _: Context) -> None:
        attempts.append(task.attempt)
        if not healthy:
            raise ValueError("model unavailable")

    worker = Worker(redis, {"analyze": analyze}, settings=FAST, worker_id="w1")
    await drain(scheduler, collector, worker)
    assert attempts == [1, 2, 3, 4, 5]
    page = await scheduler.queue.dead_page(10, None)
    ((_, letter),) = page.letters
    assert letter.error.type == "ValueError"
    assert letter.attempts == 5
    assert letter.worker_id == "w1"
    assert letter.task is not None
    assert await scheduler.queue.in_flight() == {}

    healthy = True
    assert await scheduler.queue.redrive(letter.task.task_id)
    entries = KEYS.partition(0).task_entries
    assert await redis.hkeys(entries) == [letter.task.task_id.encode()]  # watched for loss
    await drain(scheduler, collector, worker)
    assert attempts[-1] == 1
    assert (await scheduler.queue.dead_page(10, None)).letters == []
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 0
    assert await redis.hlen(entries) == 0


async def test_retry_with_a_deferral(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, collector = parts
    await add_brand(registry, redis, "nike", 10, chunkSize=10)
    calls = 0

    async def analyze(task: Task, _: Context) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Retry(defer_s=0.05)

    await drain(scheduler, collector, Worker(redis, {"analyze": analyze}, settings=FAST))
    assert calls == 2
    assert (await scheduler.queue.dead_page(10, None)).letters == []


async def test_malformed_entries_are_dead_lettered_and_the_worker_goes_on(redis: Redis) -> None:
    queue = TaskQueue(redis, KEYS)
    await queue.ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    await redis.xadd(stream, {FIELD: b"not json"})
    await redis.xadd(stream, {FIELD: b'{"v": 1, "kind": "ping"}'})
    good = new_task("ping", "nike", {}, fence=0, max_attempts=3)
    unknown = new_task("paint", "nike", {}, fence=0, max_attempts=3)
    await redis.xadd(stream, {FIELD: encode(unknown)})  # a kind on the wrong stream
    future = msgspec.json.decode(encode(new_task("ping", "nike", {}, fence=0, max_attempts=3)))
    await redis.xadd(stream, {FIELD: encode({**future, "v": 2})})  # a version this side lacks
    await redis.xadd(stream, {FIELD: encode(good)})
    seen: list[str] = []

    async def ping(task: Task, _: Context) -> str:
        seen.append(task.task_id)
        return "pong"

    await Worker(redis, {"ping": ping}, settings=FAST).run()
    assert seen == [good.task_id]
    letters = (await queue.dead_page(10, None)).letters
    reasons = sorted(letter.error.type for _, letter in letters)
    assert reasons == ["MalformedTask", "MalformedTask", "MalformedTask", "UnknownKind"]
    assert "not json" in {letter.raw for _, letter in letters}
    messages = {letter.error.message for _, letter in letters}
    assert any("protocol version 2 is not supported" in message for message in messages)


async def test_each_task_logs_with_its_own_task_and_brand(redis: Redis) -> None:
    queue = TaskQueue(redis, KEYS)
    await queue.ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    tasks = [new_task("ping", brand, {}, fence=0, max_attempts=1) for brand in ("nike", "puma")]
    for task in tasks:
        await redis.xadd(stream, {FIELD: encode(task)})
    log = structlog.get_logger()

    async def ping(task: Task, _: Context) -> None:
        await anyio.lowlevel.checkpoint()  # both tasks in flight at once, each in its own context
        log.info("ping.handled")
        if task.brand == "puma":
            raise ValueError("no")

    merge = structlog.contextvars.merge_contextvars
    with anyio.fail_after(10), capture_logs(processors=[merge]) as logs:
        await Worker(redis, {"ping": ping}, settings=FAST).run()
    lines = {(line["event"], line.get("task"), line.get("brand")) for line in logs}
    nike, puma = tasks
    assert ("ping.handled", nike.task_id, "nike") in lines
    assert ("ping.handled", puma.task_id, "puma") in lines
    assert ("task.failed", puma.task_id, "puma") in lines  # the worker's own lines too
    assert structlog.contextvars.get_contextvars() == {}  # nothing bound outside the tasks


async def _handled_by_the_next_worker(redis: Redis) -> list[str]:
    """The ids of the ``ping`` tasks a fresh worker (burst) handles."""
    done: list[str] = []

    async def ping(t: Task, _: Context) -> None:
        done.append(t.task_id)

    with anyio.fail_after(10):
        await Worker(redis, {"ping": ping}, settings=FAST).run()
    return done


async def test_a_task_left_by_a_dead_worker_is_reclaimed(redis: Redis) -> None:
    queue = TaskQueue(redis, KEYS)
    await queue.ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    task = new_task("ping", "nike", {}, fence=0, max_attempts=3)
    await redis.xadd(stream, {FIELD: encode(task)})
    # a worker reads the task and dies before settling it
    await redis.xreadgroup(WORKERS_GROUP, "dead-worker", {stream: ">"}, count=1)
    assert await _handled_by_the_next_worker(redis) == [task.task_id]
    assert await redis.xlen(stream) == 0


async def test_a_task_that_outstays_the_grace_period_is_cancelled_and_left_for_reclaim(
    redis: Redis,
) -> None:
    queue = TaskQueue(redis, KEYS)
    await queue.ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    task = new_task("ping", "nike", {}, fence=0, max_attempts=3)
    await redis.xadd(stream, {FIELD: encode(task)})
    started = anyio.Event()
    cancelled: list[str] = []

    async def stuck(t: Task, _: Context) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(t.task_id)

    worker = Worker(redis, {"ping": stuck}, settings=WorkerSettings(block_ms=50, grace_s=0.1))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await started.wait()
            worker.stop()
    assert cancelled == [task.task_id]
    assert worker.counters.processed == 0
    assert (await redis.xpending(stream, WORKERS_GROUP))["pending"] == 1
    assert await _handled_by_the_next_worker(redis) == [task.task_id]
    assert await redis.xlen(stream) == 0


async def test_only_the_lease_holder_dispatches(redis: Redis) -> None:
    a = Lease(redis, KEYS, "replica-a", ttl_s=5)
    b = Lease(redis, KEYS, "replica-b", ttl_s=5)
    assert await a.refresh()
    assert not await b.refresh()
    queue = TaskQueue(redis, KEYS)
    task = new_task("ping", "nike", {}, fence=a.fence, max_attempts=3)
    assert await queue.dispatch(b, [(task, 4)], 100) == ["not-leader"]
    assert await queue.dispatch(a, [(task, 4)], 100) == ["ok"]
    await a.release()
    assert await b.refresh()
    assert b.fence == a.fence + 1
    stale = new_task("ping", "nike", {}, fence=a.fence, max_attempts=3)
    assert await queue.dispatch(a, [(stale, 4)], 100) == ["not-leader"]
    assert (await b.current()).owner == "replica-b"


async def test_many_deep_backlogs_stay_within_their_caps_and_a_new_brand_is_served_at_once(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, collector = parts
    brands = [f"brand-{i:03d}" for i in range(100)]
    for slug in brands:
        await add_brand(registry, redis, slug, 12, chunkSize=2, maxInFlight=2)
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    done: Counter[str] = Counter()

    async def analyze(task: Task, _: Context) -> None:
        running[task.brand] += 1
        peak[task.brand] = max(peak[task.brand], running[task.brand])
        await anyio.sleep(0.002)
        running[task.brand] -= 1
        done[task.payload["chunkId"]] += 1

    settings = WorkerSettings(block_ms=20, concurrency=64)
    worker = Worker(redis, {"analyze": analyze}, settings=settings)
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await scheduler.step()
            await add_brand(registry, redis, "newcomer", 2, chunkSize=2, maxInFlight=2)
            await scheduler.round()  # the next round serves the newcomer, backlogs or not
            assert (await scheduler.queue.in_flight()).get("newcomer") == 1
            while len(done) < 100 * 6 + 1:
                await scheduler.step()
                reports = await collector._read()
                if reports:
                    await collector.apply(reports)
            worker.stop()
        while await scheduler.queue.in_flight():  # the last results are still to be applied
            await collector.apply(await collector._read())
    assert max(peak.values()) <= 2
    assert set(done.values()) == {1}


async def test_mentions_fewer_than_a_chunk_are_looked_at_again_one_interval_after_the_last_cut(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, _ = parts
    await add_brand(registry, redis, "nike", 3, chunkSize=10)  # scheduleIntervalSec: 300
    last_cut_ms = int(time.time() * 1000) - 200_000
    await redis.hset(KEYS.schedule_state("nike"), "cutAt", last_cut_ms)
    await scheduler.step()
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 0  # 3 of 10, within the interval
    assert await redis.zscore(KEYS.brand_due, "nike") == last_cut_ms + 300_000


async def test_what_waits_uncut_is_counted_in_by_ingestion_and_out_by_the_scheduler(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, _ = parts
    await add_brand(registry, redis, "nike", 0, chunkSize=10)  # scheduleIntervalSec: 300
    cadence = (await registry.get("nike")).cadence
    store, state = MentionStore(redis, KEYS), KEYS.schedule_state("nike")

    def mentions(first: int, count: int) -> list[bytes]:
        return [b'{"id": "m%d", "text": "nike"}' % i for i in range(first, first + count)]

    await store.ingest("nike", mentions(0, 13), cadence)
    await scheduler.step()  # one chunk of 10; 3 wait for the interval
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 1
    assert await redis.hget(state, "uncut") == b"3"
    last_cut_ms = int(await redis.hget(state, "cutAt") or 0)
    assert await redis.zscore(KEYS.brand_due, "nike") == last_cut_ms + 300_000
    await store.ingest("nike", mentions(13, 7), cadence)  # a full chunk: due at once
    assert (await redis.zscore(KEYS.brand_due, "nike") or 0) <= time.time() * 1000
    await scheduler.step()
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 2
    assert await redis.hget(state, "uncut") == b"0"


async def test_a_task_whose_result_a_failover_lost_is_offered_again_and_counted_once(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, collector = parts
    await add_brand(registry, redis, "nike", 10, chunkSize=5, maxInFlight=2)
    handled: Counter[str] = Counter()

    async def analyze(task: Task, _: Context) -> dict[str, Any]:
        chunk = task.payload["chunkId"]
        handled[chunk] += 1
        return chunk_result("nike", chunk, meta={"mentionCount": task.payload["count"]})

    await scheduler.step()
    await Worker(redis, {"analyze": analyze}, settings=FAST).run()
    results = KEYS.partition(0).result_stream
    entries = await read_range(redis, results, "-", "+", 10)
    (lost_id,) = [entry_id for entry_id, raw in entries if b'"nike-1"' in raw]
    await redis.xdel(results, lost_id)  # the failover kept the task's ack, not its result
    await collector.apply(await collector._read())
    assert await scheduler.queue.in_flight() == {"nike": 1, "*": 1}  # stuck: nothing releases it
    assert await scheduler.lost.sweep() == []  # seen settled and unreleased: a suspect

    scheduler.lost.lost_after_s = 0
    (released,) = await scheduler.lost.sweep()
    assert (released.brand, released.chunk) == ("nike", "nike-1")
    assert scheduler.metrics.tasks_lost.labels("analyze")._value.get() == 1
    await scheduler.step()  # the chunk is offered again
    await Worker(redis, {"analyze": analyze}, settings=FAST).run()
    await collector.apply(await collector._read())
    assert handled == {"nike-1": 2, "nike-2": 1}
    assert await scheduler.queue.in_flight() == {}
    assert await redis.hlen(KEYS.pending_chunks("nike")) == 0
    assert await redis.hmget(KEYS.aggregate("nike"), ["chunks", "mentions"]) == [b"2", b"10"]
    assert await redis.hlen(KEYS.partition(0).task_entries) == 0


async def test_tasks_queued_running_or_waiting_to_retry_are_never_presumed_lost(
    redis: Redis, parts: tuple[Registry, Scheduler, Collector]
) -> None:
    registry, scheduler, _ = parts
    await add_brand(registry, redis, "nike", 15, chunkSize=5, maxInFlight=3)
    await scheduler.step()  # three chunks dispatched
    queue, stream = scheduler.queue, KEYS.partition(0).task_stream("analyze")
    await queue.ensure_groups(["analyze"])
    reply = await redis.xreadgroup(WORKERS_GROUP, "w1", {stream: ">"}, count=2)
    _running, (_, (failing_id, raw)) = group_entries(reply)  # the third stays queued
    retried = decode_task(raw)
    failing = Delivery(stream, failing_id, raw, retried)
    error = TaskError(type="RuntimeError", message="try again")
    now_ms = int(time.time() * 1000)
    assert await queue.fail(failing, error, "w1", retry_at_ms=now_ms) == "retry"

    scheduler.lost.lost_after_s = 0
    assert await scheduler.lost.sweep() == []  # one queued, one running, one waiting to retry
    assert await queue.promote(["analyze"]) == 1
    assert await scheduler.lost.sweep() == []  # the retry is queued again
    assert await queue.in_flight() == {"nike": 3, "*": 3}
    assert await redis.xlen(stream) == 3

    ((retry_id, _),) = await read_range_reverse(redis, stream, "+", "-", 1)  # settled, lost:
    await redis.xack(stream, WORKERS_GROUP, retry_id)  # the retry's entry is the one watched
    await redis.xdel(stream, retry_id)
    (released,) = await scheduler.lost.sweep()
    assert released.chunk == retried.chunk_id


async def test_releasing_a_task_twice_changes_nothing(redis: Redis) -> None:
    lease = Lease(redis, KEYS, "replica-a", ttl_s=5)
    assert await lease.refresh()
    queue = TaskQueue(redis, KEYS)
    first, second = (new_task("ping", "nike", {}, fence=lease.fence, max_attempts=3) for _ in "ab")
    assert await queue.dispatch(lease, [(first, 4), (second, 4)], 100) == ["ok", "ok"]
    assert await queue.in_flight() == {"nike": 2, "*": 2}
    assert await queue.done(KEYS.partition(0), [first.task_id, first.task_id]) == ["nike", None]
    assert await queue.in_flight() == {"nike": 1, "*": 1}
    assert await queue.done(KEYS.partition(0), [first.task_id, second.task_id]) == [None, "nike"]
    assert await queue.in_flight() == {}


async def test_completed_tasks_are_counted_by_kind_once(redis: Redis) -> None:
    lease = Lease(redis, KEYS, "replica-a", ttl_s=5)
    assert await lease.refresh()
    queue = TaskQueue(redis, KEYS)
    tasks = [new_task(kind, "nike", {}, fence=lease.fence, max_attempts=3) for kind in "aab"]
    assert await queue.dispatch(lease, [(task, 4) for task in tasks], 100) == ["ok"] * 3
    parts = build(redis)
    reports = [report(None, "nike", task_id=task.task_id, kind=task.kind) for task in tasks]
    await publish(redis, *reports, reports[0])  # the first one delivered twice
    assert await parts.drain_results() == 4
    counted = parts.metrics.registry.get_sample_value
    assert counted("orchestrator_tasks_completed_total", {"kind": "a"}) == 2
    assert counted("orchestrator_tasks_completed_total", {"kind": "b"}) == 1
    assert await queue.in_flight() == {}


async def test_a_large_batch_releases_each_task_once_and_empties_the_caps(redis: Redis) -> None:
    lease = Lease(redis, KEYS, "replica-a", ttl_s=5)
    assert await lease.refresh()
    queue = TaskQueue(redis, KEYS)
    brands = ("nike", "puma", "asics")
    tasks = [
        new_task("ping", brands[i % 3], {"chunkId": f"c{i}"} if i % 2 else {}, fence=lease.fence,
                 max_attempts=3)
        for i in range(2500)
    ]  # fmt: skip
    tasks[0] = msgspec.structs.replace(tasks[0], task_id='an id, "quoted" ü \\ [1]')  # any text
    offers = [(task, 10_000) for task in tasks]
    assert set(await queue.dispatch(lease, offers, 10_000)) == {"ok"}
    p = KEYS.partition(0)
    first, rest = tasks[:1200], tasks[1200:]
    ids = [task.task_id for task in first]
    released = await queue.done(p, [*ids, "unknown", ids[0], ids[1199]])
    assert released == [task.brand for task in first] + [None, None, None]
    in_flight = {brand: sum(task.brand == brand for task in rest) for brand in brands}
    assert await queue.in_flight() == {**in_flight, "*": len(rest)}
    assert await redis.hlen(p.task_active) == len(rest)
    assert await redis.scard(p.task_chunks) == sum(task.chunk_id is not None for task in rest)
    assert await queue.done(p, [task.task_id for task in rest]) == [task.brand for task in rest]
    assert await queue.in_flight() == {}
    assert await redis.exists(p.task_active, p.task_chunks) == 0
    assert await queue.done(p, ids) == [None] * len(ids)


async def test_results_reach_the_results_stream_byte_for_byte(redis: Redis) -> None:
    queue = TaskQueue(redis, KEYS)
    await queue.ensure_groups(["ping"])
    stream = KEYS.partition(0).task_stream("ping")
    answers = {
        "text": {"lines": "one\ntwo", "name": "Zoë ✓", "quote": '"'},
        "raw": msgspec.Raw(b'{\n  "spaced": [1, 2]\n}'),
        "empty": "",
        "none": None,
    }
    names = {}
    for name in answers:
        task = new_task("ping", "nike", {"answer": name}, fence=0, max_attempts=1)
        names[task.task_id] = name
        await redis.xadd(stream, {FIELD: encode(task)})

    async def ping(task: Task, _: Context) -> Any:
        return answers[task.payload["answer"]]

    await Worker(redis, {"ping": ping}, settings=FAST).run()
    published = {}
    for _, raw in await read_range(redis, KEYS.partition(0).result_stream, "-", "+"):
        published[names[msgspec.json.decode(raw)["taskId"]]] = raw
    assert published.keys() == answers.keys()
    for name, answer in answers.items():
        expected = bytes(answer) if isinstance(answer, msgspec.Raw) else encode(answer)
        assert b'"result":' + expected + b"," in published[name]  # as encoded, byte for byte
