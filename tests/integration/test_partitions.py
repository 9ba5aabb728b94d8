"""Task distribution over several stream partitions (STREAM_PARTITIONS=3): brands spread over
them, every chunk handled once, one lease over all of them, the global cap over their sum, and
dead letters paged across them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.collect import Collector
from orchestrator.dispatch import WORKERS_GROUP, TaskQueue
from orchestrator.keys import Keys
from orchestrator.leader import Lease
from orchestrator.metrics import Metrics
from orchestrator.protocol import Delivery, Task, TaskError, decode_task, new_task
from orchestrator.registry import Registry
from orchestrator.scheduler import Scheduler
from orchestrator.store.streams import group_entries
from orchestrator.worker import Context, Worker, WorkerSettings
from tests.collection import build, chunk_result

KEYS = Keys(partitions=3)
# Two brands per partition (crc32(slug) % 3), checked by the first test.
BRANDS = {0: ["puma", "lego"], 1: ["nike", "adidas"], 2: ["fila", "reebok"]}


@pytest.fixture
def queue(redis: Redis) -> TaskQueue:
    return TaskQueue(redis, KEYS)


async def leader(redis: Redis, owner: str = "replica-a", ttl_s: float = 5) -> Lease:
    lease = Lease(redis, KEYS, owner, ttl_s=ttl_s)
    assert await lease.refresh()
    return lease


async def test_brands_spread_over_every_partition_and_each_chunk_is_handled_once(
    redis: Redis,
) -> None:
    assert {p: [KEYS.partition_for(s).index for s in slugs] for p, slugs in BRANDS.items()} == {
        p: [p, p] for p in BRANDS
    }
    metrics = Metrics()
    registry = Registry(redis, KEYS, metrics)
    scheduler = Scheduler(redis, KEYS, await leader(redis), metrics)
    collectors = build(redis, keys=KEYS).collection.collectors
    assert [c.partition.index for c in collectors] == [0, 1, 2]
    slugs = [slug for pair in BRANDS.values() for slug in pair]
    for slug in slugs:
        spec = BrandCreate.model_validate(
            {"name": slug, "keywords": [slug], "chunkSize": 5, "maxInFlight": 2}
        )
        await registry.create(new_brand(spec, now()))
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(20):
                pipe.xadd(KEYS.mentions(slug), {"m": f'{{"id": "{slug}-m{i}"}}'})
            await pipe.execute()
    handled: Counter[str] = Counter()
    streams: Counter[int] = Counter()

    async def analyze(task: Task, _: Context) -> dict[str, Any]:
        chunk_id = task.payload["chunkId"]
        handled[chunk_id] += 1
        await anyio.sleep(0.001)
        return chunk_result(task.brand, chunk_id, meta={"mentionCount": task.payload["count"]})

    worker = Worker(redis, {"analyze": analyze}, keys=KEYS, settings=WorkerSettings(block_ms=20))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            while len(handled) < len(slugs) * 4 or await scheduler.queue.in_flight():
                await scheduler.step()
                for collector in collectors:
                    reports = await collector._read()
                    streams[collector.partition.index] += len(reports)
                    await collector.apply(reports)
            worker.stop()
    assert sorted(handled) == sorted(f"{slug}-{i}" for slug in slugs for i in range(1, 5))
    assert set(handled.values()) == {1}
    assert streams.keys() == {0, 1, 2}  # every partition's results stream carried its brands'
    for slug in slugs:
        assert await redis.hlen(KEYS.pending_chunks(slug)) == 0
        assert await redis.hmget(KEYS.aggregate(slug), ["chunks", "mentions"]) == [b"4", b"20"]


async def test_one_lease_over_every_partition(redis: Redis, queue: TaskQueue) -> None:
    a = await leader(redis, "replica-a", ttl_s=0.3)
    b = Lease(redis, KEYS, "replica-b", ttl_s=5)
    assert not await b.refresh()
    far = BRANDS[2][0]
    offer = new_task("ping", far, {}, fence=a.fence, max_attempts=3)
    assert await queue.dispatch(b, [(offer, 4)], 100) == ["not-leader"]
    assert await queue.dispatch(a, [(offer, 4)], 100) == ["ok"]
    await anyio.sleep(0.4)  # a's lease lapses without a renewal; b takes over
    assert await b.refresh()
    assert b.fence == a.fence + 1
    stale = new_task("ping", far, {}, fence=a.fence, max_attempts=3)
    assert await queue.dispatch(a, [(stale, 4)], 100) == ["not-leader"]
    assert not await a.refresh()  # a partition that knows b's token refuses a's copy
    fresh = new_task("ping", far, {}, fence=b.fence, max_attempts=3)
    assert await queue.dispatch(b, [(fresh, 4)], 100) == ["ok"]


async def test_the_global_cap_holds_over_the_sum_of_the_partitions(
    redis: Redis, queue: TaskQueue
) -> None:
    lease = await leader(redis)
    offers = [
        (new_task("ping", slug, {}, fence=lease.fence, max_attempts=3), 10)
        for _ in range(3)
        for slug in (BRANDS[0][0], BRANDS[1][0], BRANDS[2][0])
    ]
    verdicts = await queue.dispatch(lease, offers, global_max=5)
    assert verdicts == ["ok"] * 5 + ["saturated"] * 4
    assert (await queue.in_flight())["*"] == 5
    first = offers[0][0]
    assert await queue.done(KEYS.partition_for(first.brand), [first.task_id]) == [first.brand]
    again = [(new_task("ping", BRANDS[2][1], {}, fence=lease.fence, max_attempts=3), 10)] * 2
    assert await queue.dispatch(lease, again, global_max=5) == ["ok", "saturated"]


async def test_dead_letters_of_every_partition_page_in_order_and_redrive(
    redis: Redis, queue: TaskQueue
) -> None:
    lease = await leader(redis)
    slugs = [slug for pair in BRANDS.values() for slug in pair]
    tasks = [new_task("ping", slug, {}, fence=lease.fence, max_attempts=1) for slug in slugs]
    assert await queue.dispatch(lease, [(task, 4) for task in tasks], 100) == ["ok"] * 6
    await queue.ensure_groups(["ping"])
    error = TaskError(type="Reject", message="no", retryable=False)
    for partition in KEYS.all_partitions:
        stream = partition.task_stream("ping")
        reply = await redis.xreadgroup(WORKERS_GROUP, "w1", {stream: ">"}, count=10)
        for _, (entry_id, raw) in group_entries(reply):
            delivery = Delivery(stream, entry_id, raw, decode_task(raw), partition=partition.index)
            assert await queue.fail(delivery, error, "w1", None) == "dead"
    assert await queue.in_flight() == {}

    seen: list[str] = []
    cursor = None
    while True:
        page = await queue.dead_page(2, cursor)
        seen += [letter.task.task_id for _, letter in page.letters if letter.task]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(task.task_id for task in tasks)
    assert len(seen) == len(set(seen))

    far = next(task for task in tasks if KEYS.partition_for(task.brand).index == 2)
    near = next(task for task in tasks if KEYS.partition_for(task.brand).index == 1)
    assert await queue.redrive(far.task_id)
    assert await queue.in_flight() == {far.brand: 1, "*": 1}
    assert await redis.xlen(KEYS.partition(2).task_stream("ping")) == 1
    assert await queue.delete_dead(near.task_id)
    assert await queue.dead_letter(near.task_id) is None
    assert not await queue.redrive(near.task_id)
    assert len((await queue.dead_page(10, None)).letters) == 4


async def test_a_collector_reads_only_its_partition(redis: Redis) -> None:
    collectors: list[Collector] = build(redis, keys=KEYS).collection.collectors
    assert [c.stream for c in collectors] == [
        "orch:{results}:stream",
        "orch:{results:1}:stream",
        "orch:{results:2}:stream",
    ]


async def test_a_busy_partition_takes_every_slot_the_idle_ones_do_not_hold(
    redis: Redis, queue: TaskQueue
) -> None:
    """Concurrency 6 over three partitions, all the work in one: the two idle partitions'
    readers hold one slot each, the busy one runs four at once, and nothing starves."""
    lease = await leader(redis)
    await queue.ensure_groups(["ping"])
    slug = BRANDS[1][0]
    tasks = [new_task("ping", slug, {}, fence=lease.fence, max_attempts=3) for _ in range(12)]
    assert set(await queue.dispatch(lease, [(task, 20) for task in tasks], 100)) == {"ok"}
    running = peak = 0
    done: list[str] = []
    release, four_running = anyio.Event(), anyio.Event()

    async def ping(task: Task, _: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 4:
            four_running.set()
        await release.wait()
        running -= 1
        done.append(task.task_id)

    settings = WorkerSettings(concurrency=6, block_ms=200, burst=True)
    worker = Worker(redis, {"ping": ping}, keys=KEYS, settings=settings)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await four_running.wait()
            await anyio.sleep(0.3)  # longer than an idle read: nobody gives a slot back
            assert peak == 4
            release.set()
    assert sorted(done) == sorted(task.task_id for task in tasks)
