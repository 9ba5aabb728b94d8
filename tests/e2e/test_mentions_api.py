"""Mentions in over HTTP: partial acceptance, deduplication, limits and clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from redis import Redis as SyncRedis

from orchestrator.keys import Keys
from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess

KEYS = Keys()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, valkey: EmbeddedServer
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("mentions")
    process = ServiceProcess(workdir, {"REDIS_URL": valkey.url}).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture
def brand(api: httpx.Client) -> str:
    assert api.post("/v1/brands", json={"name": "Nike", "keywords": ["nike"]}).status_code == 201
    return "nike"


def mention(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"m{n}", "text": f"nike mention {n}", "source": "x",
            "createdAt": "2026-11-28T10:00:00Z", **fields}  # fmt: skip


def test_valid_mentions_are_accepted_and_bad_ones_listed_by_index(
    api: httpx.Client, brand: str, store: SyncRedis
) -> None:
    body = [
        mention(1),
        mention(2, text=""),
        mention(3, createdAt="yesterday"),
        mention(4, source="Not A Source!"),
        {"text": "no id"},
        mention(5, unknown="field"),
        mention(6, language="english"),
        mention(7),
    ]
    answer = api.post(f"/v1/brands/{brand}/mentions", json=body)
    assert answer.status_code == 202
    outcome = answer.json()
    assert (outcome["accepted"], outcome["duplicates"]) == (2, 0)
    fields = {r["index"]: r["errors"][0]["field"] for r in outcome["rejected"]}
    assert fields == {1: "text", 2: "createdAt", 3: "source", 4: "id", 5: "unknown", 6: "language"}
    assert "missing required field" in outcome["rejected"][3]["errors"][0]["message"]
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], store.xrange(KEYS.mentions(brand)))
    stored = [json.loads(fields[b"m"]) for _, fields in entries]
    assert [m["id"] for m in stored] == ["m1", "m7"]


def test_ndjson_and_duplicates_across_requests(api: httpx.Client, brand: str) -> None:
    lines = "\n".join(json.dumps(mention(n)) for n in range(10)) + "\n\n"
    headers = {"content-type": "application/x-ndjson"}
    first = api.post(f"/v1/brands/{brand}/mentions", content=lines, headers=headers).json()
    again = api.post(f"/v1/brands/{brand}/mentions", json=[mention(n) for n in range(5, 15)])
    assert (first["accepted"], first["duplicates"]) == (10, 0)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (5, 5)
    page = api.get(f"/v1/brands/{brand}/mentions", params={"limit": 100}).json()
    assert [item["mention"]["id"] for item in page["items"]] == [f"m{n}" for n in range(15)]


def test_a_missing_time_is_the_time_of_receipt(api: httpx.Client, brand: str) -> None:
    body = [{"id": "a", "text": "nike without a time"}]
    assert api.post(f"/v1/brands/{brand}/mentions", json=body).json()["accepted"] == 1
    (item,) = api.get(f"/v1/brands/{brand}/mentions").json()["items"]
    assert item["mention"]["createdAt"].startswith("20")
    assert item["mention"]["source"] == "api"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"id": "m1"}', "application/json", 400),  # an object, not an array
        (b"[]", "text/plain", 415),
        (json.dumps([mention(n) for n in range(5001)]).encode(), "application/json", 413),
        (b"[" + b" " * (5 * 1024 * 1024) + b"]", "application/json", 413),
    ],
    ids=["malformed", "not-an-array", "wrong-type", "too-many", "too-large"],
)
def test_bad_bodies_get_a_problem_and_store_nothing(  # noqa: PLR0917 - parametrized
    api: httpx.Client, brand: str, store: SyncRedis, content: bytes, content_type: str, status: int
) -> None:
    answer = api.post(
        f"/v1/brands/{brand}/mentions", content=content, headers={"content-type": content_type}
    )
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert store.xlen(KEYS.mentions(brand)) == 0


def test_unknown_brand_is_404_and_a_paused_one_409(
    api: httpx.Client, brand: str, store: SyncRedis
) -> None:
    assert api.post("/v1/brands/ghost/mentions", json=[mention(1)]).status_code == 404
    assert api.post(f"/v1/brands/{brand}/pause").status_code == 200
    answer = api.post(f"/v1/brands/{brand}/mentions", json=[mention(1)])
    assert answer.status_code == 409
    assert store.xlen(KEYS.mentions(brand)) == 0


def test_accepted_mentions_are_counted_for_their_bucket(
    api: httpx.Client, brand: str, store: SyncRedis
) -> None:
    body = [mention(1), mention(2), mention(3, createdAt="2026-11-28T11:30:00+01:00")]
    api.post(f"/v1/brands/{brand}/mentions", json=body)
    hour = 1795860000000  # 2026-11-28T10:00:00Z
    assert store.hget(KEYS.expected(brand), f"hour:{hour}") == b"3"


def test_duplicates_are_refused_across_a_restart(
    service_factory: Callable[..., ServiceProcess], valkey: EmbeddedServer, store: SyncRedis
) -> None:
    first = service_factory({"REDIS_URL": valkey.url}).wait_ready()
    httpx.post(f"{first.url}/v1/brands", json={"name": "Adidas", "keywords": ["adidas"]})
    body = [mention(n, text=f"adidas {n}") for n in range(3)]
    assert httpx.post(f"{first.url}/v1/brands/adidas/mentions", json=body).json()["accepted"] == 3
    assert first.stop() == 0
    second = service_factory({"REDIS_URL": valkey.url}).wait_ready()
    again = httpx.post(f"{second.url}/v1/brands/adidas/mentions", json=body).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert store.xlen(KEYS.mentions("adidas")) == 3
