from __future__ import annotations

import time

import anyio
import pytest
from redis.asyncio import Redis

from orchestrator.brand import Brand, BrandCreate, new_brand, now
from orchestrator.errors import BrandExistsError, BrandNotFoundError, VersionConflictError
from orchestrator.keys import Keys
from orchestrator.legacy import LegacySync, sync
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.types import BrandStatus

KEYS = Keys()


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return Registry(redis, KEYS, Metrics())


def brand(slug: str, **fields: object) -> Brand:
    spec = BrandCreate.model_validate({"name": slug, "slug": slug, "keywords": [slug], **fields})
    return new_brand(spec, now())


async def test_create_get_and_derived_structures(registry: Registry, redis: Redis) -> None:
    before_ms = time.time() * 1000
    created = await registry.create(brand("nike"))
    assert await registry.get("nike") == created
    assert await redis.smembers("brands:list") == {b"nike"}
    assert await redis.zrange(KEYS.brand_status_index("active"), 0, -1) == [b"nike"]
    due = await redis.zscore(KEYS.brand_due, "nike")
    assert due is not None
    assert due >= before_ms - 1
    with pytest.raises(BrandExistsError):
        await registry.create(brand("nike"))
    with pytest.raises(BrandNotFoundError):
        await registry.get("adidas")


async def test_pause_stops_scheduling_and_resume_makes_it_due(
    registry: Registry, redis: Redis
) -> None:
    await registry.create(brand("nike"))
    paused = await registry.set_status("nike", BrandStatus.PAUSED)
    assert paused.version == 2
    assert await redis.zscore(KEYS.brand_due, "nike") is None
    assert await redis.zrange(KEYS.brand_status_index("paused"), 0, -1) == [b"nike"]
    assert await redis.zrange(KEYS.brand_status_index("active"), 0, -1) == []
    assert await redis.sismember("brands:list", "nike")  # still registered
    assert (await registry.set_status("nike", BrandStatus.PAUSED)).version == 2  # no change

    await redis.zadd(KEYS.brand_due, {"other": 1})
    resumed = await registry.set_status("nike", BrandStatus.ACTIVE)
    assert resumed.status == BrandStatus.ACTIVE
    assert await redis.zscore(KEYS.brand_due, "nike") is not None


async def test_only_one_of_two_writers_with_the_same_version_wins(registry: Registry) -> None:
    original = await registry.create(brand("nike"))
    outcomes: list[str] = []

    async def write(chunk_size: int) -> None:
        changed = original.model_copy(update={"chunk_size": chunk_size, "version": 2})
        try:
            await registry.replace(changed, expected_version=original.version)
            outcomes.append("won")
        except VersionConflictError as exc:
            outcomes.append(f"stale at {exc.current}")

    async with anyio.create_task_group() as group:
        for size in (10, 20):
            group.start_soon(write, size)
    assert sorted(outcomes) == ["stale at 2", "won"]
    assert (await registry.get("nike")).version == 2


async def test_delete_and_purge(registry: Registry, redis: Redis) -> None:
    await registry.create(brand("nike"))
    await registry.create(brand("adidas"))
    data_keys = KEYS.brand_data("nike")
    for key in data_keys[:4]:
        await redis.rpush(key, "x")
    await registry.delete("nike", purge=True)
    assert await redis.exists(*data_keys) == 0
    assert await redis.smembers("brands:list") == {b"adidas"}
    assert await redis.zscore(KEYS.brand_due, "nike") is None
    assert await redis.zrange(KEYS.brand_index, 0, -1) == [b"adidas"]
    with pytest.raises(BrandNotFoundError):
        await registry.delete("nike")

    await redis.rpush(KEYS.legacy_summary("adidas"), "kept")
    await registry.delete("adidas")
    assert await redis.exists(KEYS.legacy_summary("adidas")) == 1  # no purge: data stays


async def test_pages_return_every_brand_exactly_once_in_order(registry: Registry) -> None:
    slugs = sorted(f"brand-{i:04d}" for i in range(1000))
    limiter = anyio.CapacityLimiter(32)

    async def create(slug: str) -> None:
        async with limiter:
            await registry.create(brand(slug))

    async with anyio.create_task_group() as group:
        for slug in slugs:
            group.start_soon(create, slug)
    await registry.set_status("brand-0007", BrandStatus.PAUSED)

    seen: list[str] = []
    cursor = None
    while True:
        page = await registry.page(status=None, q=None, limit=37, cursor=cursor)
        seen += [Brand.model_validate_json(document).slug for document in page.documents]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == slugs

    paused = await registry.page(status=BrandStatus.PAUSED, q=None, limit=500, cursor=None)
    assert [Brand.model_validate_json(d).slug for d in paused.documents] == ["brand-0007"]


async def test_a_filtered_page_scans_a_bounded_range(registry: Registry) -> None:
    for slug in ("alpha", "bravo", "charlie", "delta"):
        await registry.create(brand(slug, keywords=[f"{slug} shoes" if slug != "bravo" else "x"]))
    found, cursor = [], None
    while True:
        page = await registry.page(status=None, q="SHOES", limit=2, cursor=cursor)
        found += [Brand.model_validate_json(d).slug for d in page.documents]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert found == ["alpha", "charlie", "delta"]


async def test_legacy_slugs_are_adopted_and_removals_noticed(
    registry: Registry, redis: Redis
) -> None:
    await registry.create(brand("nike"))
    await redis.sadd("brands:list", "puma", "Not A Slug")
    report = await sync(registry)
    assert report.adopted == ["puma"]
    assert report.rejected == ["Not A Slug"]
    puma = await registry.get("puma")
    assert (puma.keywords, puma.status) == (["puma"], BrandStatus.ACTIVE)
    assert await redis.zscore(KEYS.brand_due, "puma") is not None

    await redis.srem("brands:list", "nike")
    report = await sync(registry)
    assert report.removed == ["nike"]
    with pytest.raises(BrandNotFoundError):
        await registry.get("nike")
    assert await redis.zscore(KEYS.brand_due, "nike") is None


async def test_a_legacy_list_is_read_and_kept_a_list(registry: Registry, redis: Redis) -> None:
    await redis.rpush("brands:list", "puma", "reebok")
    report = await sync(registry)
    assert sorted(report.adopted) == ["puma", "reebok"]
    await registry.create(brand("nike"))
    assert await redis.type("brands:list") == b"list"
    assert await redis.lrange("brands:list", 0, -1) == [b"puma", b"reebok", b"nike"]
    await registry.delete("puma")
    assert await redis.lrange("brands:list", 0, -1) == [b"reebok", b"nike"]
    await redis.lrem("brands:list", 0, "reebok")
    assert (await sync(registry)).removed == ["reebok"]


async def test_one_replica_syncs_per_interval(registry: Registry, redis: Redis) -> None:
    first = LegacySync(registry, interval_s=30, owner="replica-a")
    second = LegacySync(registry, interval_s=30, owner="replica-b")
    await redis.sadd("brands:list", "puma")
    await first.step()
    await redis.sadd("brands:list", "reebok")
    await second.step()  # the lock is held: no sync
    assert await redis.zrange(KEYS.brand_index, 0, -1) == [b"puma"]
    assert (
        registry.metrics.registry.get_sample_value("orchestrator_brands", {"status": "active"}) == 1
    )


async def test_emptying_brands_list_unlists_every_brand(registry: Registry, redis: Redis) -> None:
    await registry.create(brand("nike"))
    await redis.srem("brands:list", "nike")  # the set is empty: Redis deletes the key
    assert (await sync(registry)).removed == ["nike"]


async def test_the_comparison_works_in_batches_over_many_brands(
    registry: Registry, redis: Redis
) -> None:
    slugs = [f"b-{i:05d}" for i in range(2500)]
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd("brands:list", *slugs)
        await pipe.execute()
    report = await sync(registry)
    assert sorted(report.adopted) == slugs
    await redis.srem("brands:list", "b-00000", "b-01999", "b-02499")
    assert sorted((await sync(registry)).removed) == ["b-00000", "b-01999", "b-02499"]
    assert (await sync(registry)) == type(report)([], [], [])


async def test_a_pass_walks_both_only_when_the_counts_differ_or_in_turn(
    registry: Registry, redis: Redis
) -> None:
    syncer = LegacySync(registry, interval_s=0.001, owner="replica-a", full_every=2)
    await registry.create(brand("nike"))
    await syncer.step()  # pass 1: full
    await redis.sadd("brands:list", "puma")
    await redis.srem("brands:list", "nike")  # one added, one removed: the counts still match
    await redis.delete(KEYS.registry_sync_lock)
    await syncer.step()  # pass 2: counts match, nothing walked
    assert await redis.zrange(KEYS.brand_index, 0, -1) == [b"nike"]
    await redis.delete(KEYS.registry_sync_lock)
    await syncer.step()  # pass 3: full
    assert await redis.zrange(KEYS.brand_index, 0, -1) == [b"puma"]
    await redis.sadd("brands:list", "reebok")  # the counts differ: noticed at once
    await redis.delete(KEYS.registry_sync_lock)
    await syncer.step()
    assert await redis.zrange(KEYS.brand_index, 0, -1) == [b"puma", b"reebok"]


async def test_the_sync_finishes_a_create_or_a_delete_left_half_done(
    registry: Registry, redis: Redis
) -> None:
    await registry._write(brand("nike"), expected="", due="set")  # died before brands:list
    await registry.create(brand("puma"))
    await registry._delete(keys=registry._delete_keys, args=["puma", "0"])  # died after it
    report = await sync(registry)
    assert (report.adopted, report.removed, report.finished) == ([], [], ["nike", "puma"])
    assert await redis.smembers("brands:list") == {b"nike"}
    assert await registry.marked(["nike", "puma"]) == {"nike"}
    assert await registry.slugs() == ["nike"]
    assert await sync(registry) == type(report)([], [], [])


async def test_brands_listed_before_the_marks_existed_count_as_ours(
    registry: Registry, redis: Redis
) -> None:
    await registry.create(brand("nike"))
    await registry.create(brand("puma"))
    await redis.delete(KEYS.brand_listed, KEYS.brand_listed_tracked)  # an older version's store
    await redis.srem("brands:list", "puma")  # another tool removes puma
    report = await sync(registry)
    assert (report.removed, report.finished) == (["puma"], [])
    assert await registry.slugs() == ["nike"]
