"""Collection and aggregation with real service processes: two collectors on one brand, a
collector killed in the middle of a legacy list, and the aggregate, timeline and failed APIs."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis import Redis as SyncRedis

from orchestrator.dispatch import COLLECTORS_GROUP
from orchestrator.protocol import FIELD
from orchestrator.store.embedded import EmbeddedServer
from orchestrator.types import text
from tests.collection import KEYS, chunk_result, report
from tests.harness import ServiceProcess, wait_until

FAST = {
    "LEGACY_POLL_SEC": "0.2",
    "LEGACY_LEASE_SEC": "1",
    "SHUTDOWN_GRACE_SEC": "5",
    "SUMMARY_MIN_INTERVAL_SEC": "1",
    "SUMMARY_CACHE_SEC": "0",  # the tests empty the store behind the services' backs
}


def start(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, **env: str
) -> ServiceProcess:
    return service_factory({"REDIS_URL": valkey.url, **FAST, **env}).wait_ready()


def create_brand(service: ServiceProcess, slug: str) -> None:
    body = {"name": slug, "keywords": [slug]}
    assert httpx.post(f"{service.url}/v1/brands", json=body).status_code == 201


def totals(store: SyncRedis, brand: str = "nike") -> dict[str, int]:
    found = store.hgetall(KEYS.aggregate(brand))
    return {text(k): int(float(v)) for k, v in found.items() if k != b"lastChunk"}


def test_two_collector_processes_apply_ten_thousand_results_for_one_brand_exactly(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    replicas = [start(service_factory, valkey, ORCHESTRATOR_ID=f"r{i}") for i in range(2)]
    create_brand(replicas[0], "nike")
    count = 10_000
    with store.pipeline(transaction=False) as pipe:
        for i in range(count):
            theme = (i // 2) % 4
            centroid = [1.0 if axis == theme else 0.0 for axis in range(4)]
            clusters = (
                [{"id": f"t{theme}", "mentions": [f"m{i}"], "centroid": centroid}] if i % 2 else []
            )
            result = chunk_result("nike", f"c{i}", clusters=clusters, meta={"mentionCount": 3})
            pipe.xadd(
                KEYS.partition(0).result_stream, {FIELD: report(result, "nike", task_id=f"t{i}")}
            )
            if i % 3 == 0:  # a third delivered twice, as a redelivery would
                pipe.xadd(
                    KEYS.partition(0).result_stream,
                    {FIELD: report(result, "nike", task_id=f"t{i}")},
                )
        pipe.execute()

    def settled() -> bool:
        pending = store.xpending(KEYS.partition(0).result_stream, COLLECTORS_GROUP)["pending"]
        return store.xlen(KEYS.partition(0).result_stream) == 0 and pending == 0

    wait_until(settled, timeout_s=90, what="the results stream drained")
    agg = totals(store)
    assert (agg["chunks"], agg["mentions"], agg["positive"], agg["score"]) == (
        count, 3 * count, 5 * count, 4 * count,
    )  # fmt: skip
    view = replicas[1].get("/v1/brands/nike/aggregate").json()
    assert sorted(c["size"] for c in view["clusters"]) == [count // 8] * 4
    applied = [metric(r, "orchestrator_results_applied_total") for r in replicas]
    assert sum(applied) == count
    assert all(share > 0 for share in applied)  # both collectors took part


def metric(service: ServiceProcess, name: str) -> float:
    for line in service.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_a_legacy_list_survives_a_collector_killed_mid_batch(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    first = start(service_factory, valkey, ORCHESTRATOR_ID="first")
    create_brand(first, "nike")
    count = 6_000
    key = KEYS.legacy_chunks("nike")
    items = [json.dumps(chunk_result("nike", f"legacy-{i}")) for i in range(count)]
    store.rpush(key, *items)
    wait_until(lambda: totals(store).get("chunks", 0) >= 500, timeout_s=30, what="first batches")
    first.stop(signal.SIGKILL)
    assert totals(store)["chunks"] < count  # killed with work left
    second = start(service_factory, valkey, ORCHESTRATOR_ID="second")
    wait_until(lambda: store.llen(key) == 0, timeout_s=60, what="the list consumed")
    assert totals(store)["chunks"] == count
    assert totals(store)["positive"] == 5 * count
    assert second.get("/v1/failed").json()["items"] == []


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, valkey: EmbeddedServer
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("aggregates")
    process = ServiceProcess(workdir, {"REDIS_URL": valkey.url, **FAST}).start().wait_ready()
    yield process
    process.stop()


def test_the_aggregate_and_timeline_apis(api: httpx.Client, store: SyncRedis) -> None:
    assert api.post("/v1/brands", json={"name": "nike", "keywords": ["nike"]}).status_code == 201
    now = datetime.now(UTC)
    mentions = [
        {
            "id": f"m{i}",
            "createdAt": (now - timedelta(hours=i)).isoformat(),
            "sentiment": "positive",
        }
        for i in range(3)
    ]
    result = chunk_result(
        "nike", "c1", mentions=mentions, meta={"mentionCount": 3},
        sentiment={"positive": 3, "neutral": 0, "negative": 0, "score": 2.5},
    )  # fmt: skip
    store.rpush(KEYS.legacy_chunks("nike"), json.dumps(result))
    wait_until(lambda: store.llen(KEYS.legacy_chunks("nike")) == 0, what="the result applied")
    agg = api.get("/v1/brands/nike/aggregate", params={"window": "24h"}).json()
    assert agg["totalMentions"] == 3
    assert agg["sentiment"] == {"positive": 3, "neutral": 0, "negative": 0, "score": 2.5}
    assert agg["netSentiment"] == 1.0
    assert agg["topics"] == [{"topic": "launch", "count": 1}]
    assert api.get("/v1/brands/nike/aggregate", params={"window": "1h"}).json()[
        "totalMentions"
    ] in (1, 2)
    line = api.get("/v1/brands/nike/timeline", params={"bucket": "1h"}).json()
    assert sum(p["volume"] for p in line["points"]) == 3
    assert len(line["points"]) in (168, 169)  # the last 7 days, zeros included


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/brands/ghost/aggregate", {}, 404, None),
        ("/v1/brands/nike/aggregate", {"window": "2h"}, 422, "window"),
        ("/v1/brands/nike/timeline", {"bucket": "5m"}, 422, "bucket"),
        (
            "/v1/brands/nike/timeline",
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            422,
            "from",
        ),
        ("/v1/brands/nike/timeline", {"from": "2026-01-01T00:00:00"}, 422, "from"),
        ("/v1/brands/nike/timeline", {"bucket": "1m", "from": "2020-01-01T00:00:00Z"}, 422, "from"),
        ("/v1/failed", {"limit": 0}, 422, "limit"),
        ("/v1/failed", {"brand": "Not A Slug"}, 422, "brand"),
    ],
)
def test_bad_queries_get_a_problem_naming_the_field(
    api: httpx.Client, path: str, params: dict[str, str | int], status: int, field: str | None
) -> None:
    api.post("/v1/brands", json={"name": "nike", "keywords": ["nike"]})
    response = api.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if field:
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_parked_payloads_are_listed_with_their_reason(api: httpx.Client, store: SyncRedis) -> None:
    api.post("/v1/brands", json={"name": "nike", "keywords": ["nike"]})
    bad = chunk_result("nike", "bad", meta={"mentionCount": -1})
    store.rpush(KEYS.legacy_chunks("nike"), json.dumps(bad), b"{oops")
    wait_until(lambda: store.llen(KEYS.legacy_chunks("nike")) == 0, what="both parked")
    items = api.get("/v1/failed").json()["items"]
    assert [(i["reason"], i["brand"], i["source"]) for i in items] == [
        ("not_json", "nike", "legacy"), ("invalid", "nike", "legacy"),
    ]  # fmt: skip
    assert "$.meta.mentionCount" in items[1]["message"]
    assert items[0]["raw"] == "{oops"
    assert len(api.get("/v1/failed", params={"brand": "nike", "limit": 1}).json()["items"]) == 1
    assert store.llen(KEYS.legacy_failed("nike")) == 2  # the original's key too


def test_summaries_are_published_with_an_etag_and_a_history(
    api: httpx.Client, store: SyncRedis
) -> None:
    assert api.post("/v1/brands", json={"name": "Nike", "keywords": ["nike"]}).status_code == 201
    assert api.get("/v1/brands/nike/summary").status_code == 404  # none yet
    listener = store.pubsub()  # type: ignore[no-untyped-call]
    listener.subscribe(KEYS.summary_channel)
    store.rpush(KEYS.legacy_chunks("nike"), json.dumps(chunk_result("nike", "c1")))

    def summarized() -> bool:  # a summary made before the result landed may come first
        answer = api.get("/v1/brands/nike/summary")
        return answer.status_code == 200 and answer.json()["totalMentions"] == 8

    wait_until(summarized, what="a summary of the result")
    first = api.get("/v1/brands/nike/summary")
    assert first.json()["totalMentions"] == 8
    assert (
        api.get(
            "/v1/brands/nike/summary", headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )
    assert store.ttl("summary:brand:nike") > 0  # the original's key, with a TTL
    refreshed = api.post("/v1/brands/nike/summary/refresh")
    assert refreshed.status_code == 200
    history = api.get("/v1/brands/nike/summaries").json()["items"]
    assert len(history) >= 2
    assert history[0]["totalMentions"] == 8
    assert history[0]["generatedAt"] >= history[1]["generatedAt"]
    messages = [listener.get_message(timeout=1) for _ in range(4)]
    assert b"nike" in [m["data"] for m in messages if m and m["type"] == "message"]
    listener.close()


def test_a_summary_made_on_one_replica_is_served_by_the_other_at_once(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    # a long cache age: only the announcement can make replica a serve the new summary
    a, b = (start(service_factory, valkey, SUMMARY_CACHE_SEC="3600") for _ in range(2))
    create_brand(a, "nike")
    first = httpx.post(f"{b.url}/v1/brands/nike/summary/refresh").json()
    wait_until(lambda: httpx.get(f"{a.url}/v1/brands/nike/summary").status_code == 200)
    served = httpx.get(f"{a.url}/v1/brands/nike/summary")
    assert served.json()["generatedAt"] >= first["generatedAt"]
    store.xadd(KEYS.partition(0).result_stream, {FIELD: report(chunk_result("nike", "c1"), "nike")})
    wait_until(lambda: store.hget(KEYS.aggregate("nike"), "chunks") == b"1")
    second = httpx.post(f"{b.url}/v1/brands/nike/summary/refresh").json()
    assert second["totalMentions"] == 8

    def fresh() -> bool:
        answer = httpx.get(f"{a.url}/v1/brands/nike/summary").json()
        return bool(answer["totalMentions"] == 8)

    # well within the hour its cache would otherwise keep the first summary
    wait_until(fresh, timeout_s=10, what="replica a serving replica b's summary")
