"""/v1/brands on a real service process, with the store inspected directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from orchestrator.keys import Keys
from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess, wait_until

KEYS = Keys()
NIKE = {"name": "Nike Running", "keywords": ["nike", "running shoes"], "languages": ["en"]}
MERGE_PATCH = {"content-type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def service(
    valkey: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    env = {"REDIS_URL": valkey.url, "REGISTRY_SYNC_SEC": "0.2"}
    process = ServiceProcess(tmp_path_factory.mktemp("brands"), env).start().wait_ready()
    yield process
    assert process.stop() == 0


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_create_read_update_delete(api: httpx.Client, store: SyncRedis) -> None:
    created = api.post("/v1/brands", json=NIKE)
    assert created.status_code == 201
    assert created.headers["location"] == "/v1/brands/nike-running"
    assert created.headers["etag"] == '"1"'
    body = created.json()
    assert body["slug"] == "nike-running"
    assert body["version"] == 1
    assert body["createdAt"] == body["updatedAt"]
    assert store.sismember("brands:list", "nike-running")

    read = api.get("/v1/brands/nike-running")
    assert read.json() == body
    assert api.get("/v1/brands/nike-running", headers={"if-none-match": '"1"'}).status_code == 304

    patched = api.patch(
        "/v1/brands/nike-running",
        content=b'{"chunkSize": 50, "languages": null}',
        headers={**MERGE_PATCH, "if-match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert (patched.json()["chunkSize"], patched.json()["languages"]) == (50, [])
    assert patched.json()["createdAt"] == body["createdAt"]

    assert api.delete("/v1/brands/nike-running").status_code == 204
    _problem(api.get("/v1/brands/nike-running"), 404)
    assert not store.sismember("brands:list", "nike-running")
    assert store.zscore(KEYS.brand_due, "nike-running") is None
    _problem(api.delete("/v1/brands/nike-running"), 404)


def test_an_existing_slug_is_409(api: httpx.Client) -> None:
    assert api.post("/v1/brands", json=NIKE).status_code == 201
    problem = _problem(api.post("/v1/brands", json={**NIKE, "keywords": ["x"]}), 409)
    assert problem["slug"] == "nike-running"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"keywords": []}, "keywords"),
        ({"keywords": ["ok", "k" * 129]}, "keywords[1]"),
        ({"languages": ["en", "xx"]}, "languages[1]"),
        ({"sources": [{"type": "rss", "url": "nope"}]}, "sources[0].rss.url"),
        ({"scheduleIntervalSec": 5}, "scheduleIntervalSec"),
        ({"chunkSize": 6000}, "chunkSize"),
        ({"maxInFlight": 0}, "maxInFlight"),
        ({"status": "gone"}, "status"),
        ({"createdAt": "2020-01-01T00:00:00Z"}, "createdAt"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_422_with_their_path(
    api: httpx.Client, change: dict[str, Any], field: str
) -> None:
    problem = _problem(api.post("/v1/brands", json={**NIKE, **change}), 422)
    assert field in {error["field"] for error in problem["errors"]}
    assert api.get("/v1/brands").json()["items"] == []  # nothing was created


def test_a_patch_is_validated_like_a_create(api: httpx.Client) -> None:
    api.post("/v1/brands", json=NIKE)
    bad = api.patch("/v1/brands/nike-running", json={"chunkSize": -1, "keywords": ["a", ""]})
    problem = _problem(bad, 422)
    assert {error["field"] for error in problem["errors"]} == {"chunkSize", "keywords[1]"}
    immutable = _problem(api.patch("/v1/brands/nike-running", json={"slug": "other"}), 422)
    assert immutable["errors"][0]["field"] == "slug"
    assert api.get("/v1/brands/nike-running").json()["version"] == 1


def test_a_stale_etag_is_412(api: httpx.Client) -> None:
    api.post("/v1/brands", json=NIKE)
    api.patch("/v1/brands/nike-running", json={"chunkSize": 10})
    stale = api.patch(
        "/v1/brands/nike-running", json={"chunkSize": 20}, headers={"if-match": '"1"'}
    )
    assert _problem(stale, 412)["detail"].endswith("fetch it again")
    assert stale.headers["etag"] == '"2"'
    assert api.get("/v1/brands/nike-running").json()["chunkSize"] == 10


def test_two_concurrent_patches_with_one_etag_exactly_one_wins(api: httpx.Client) -> None:
    api.post("/v1/brands", json=NIKE)

    def patch(size: int) -> int:
        response = api.patch(
            "/v1/brands/nike-running", json={"chunkSize": size}, headers={"if-match": '"1"'}
        )
        return response.status_code

    for round_ in range(10):
        api.patch("/v1/brands/nike-running", json={"chunkSize": 1}, headers={"if-match": "*"})
        version = api.get("/v1/brands/nike-running").json()["version"]
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(
                pool.map(
                    lambda size, v=version: (
                        api.patch(
                            "/v1/brands/nike-running",
                            json={"chunkSize": size},
                            headers={"if-match": f'"{v}"'},
                        ).status_code
                    ),
                    (100 + round_, 200 + round_),
                )
            )
        assert statuses == [200, 412]
    assert patch(5) == 412  # the ETag "1" is long stale


def test_pause_and_resume_drive_the_due_index(api: httpx.Client, store: SyncRedis) -> None:
    api.post("/v1/brands", json=NIKE)
    assert store.zscore(KEYS.brand_due, "nike-running") is not None
    paused = api.post("/v1/brands/nike-running/pause")
    assert paused.json()["status"] == "paused"
    assert store.zscore(KEYS.brand_due, "nike-running") is None
    resumed = api.post("/v1/brands/nike-running/resume")
    assert resumed.json()["status"] == "active"
    assert store.zscore(KEYS.brand_due, "nike-running") is not None
    _problem(api.post("/v1/brands/adidas/pause"), 404)


def test_purge_deletes_the_brands_data(api: httpx.Client, store: SyncRedis) -> None:
    api.post("/v1/brands", json=NIKE)
    store.set(KEYS.legacy_summary("nike-running"), "{}")
    store.rpush(KEYS.legacy_failed("nike-running"), "{}")
    assert api.delete("/v1/brands/nike-running", params={"purge": "true"}).status_code == 204
    assert store.exists(KEYS.legacy_summary("nike-running")) == 0
    assert store.exists(KEYS.legacy_failed("nike-running")) == 0


def test_listing_filters_and_pages(api: httpx.Client) -> None:
    for name in ("Adidas", "Nike", "Puma", "Reebok"):
        api.post("/v1/brands", json={"name": name, "keywords": [f"{name} shoes"]})
    api.post("/v1/brands/puma/pause")
    first = api.get("/v1/brands", params={"limit": 3}).json()
    assert [item["slug"] for item in first["items"]] == ["adidas", "nike", "puma"]
    second = api.get("/v1/brands", params={"limit": 3, "cursor": first["nextCursor"]}).json()
    assert [item["slug"] for item in second["items"]] == ["reebok"]
    assert second["nextCursor"] is None
    paused = api.get("/v1/brands", params={"status": "paused"}).json()
    assert [item["slug"] for item in paused["items"]] == ["puma"]
    found = api.get("/v1/brands", params={"q": "NIKE SH"}).json()
    assert [item["slug"] for item in found["items"]] == ["nike"]
    problem = _problem(api.get("/v1/brands", params={"limit": 501}), 422)
    assert problem["errors"][0]["field"] == "limit"
    assert (
        _problem(api.get("/v1/brands", params={"cursor": "%%"}), 422)["errors"][0]["in"] == "query"
    )


def test_brands_list_is_kept_in_sync_both_ways(api: httpx.Client, store: SyncRedis) -> None:
    store.sadd("brands:list", "legacy-brand")
    adopted = wait_until(
        lambda: (r := api.get("/v1/brands/legacy-brand")).status_code == 200 and r.json(),
        what="the legacy slug to be adopted",
    )
    assert adopted["keywords"] == ["legacy-brand"]
    assert adopted["scheduleIntervalSec"] == 300
    store.srem("brands:list", "legacy-brand")
    wait_until(
        lambda: api.get("/v1/brands/legacy-brand").status_code == 404,
        what="the removal from brands:list to be noticed",
    )


def test_webhooks_on_private_addresses_are_refused(api: httpx.Client, store: SyncRedis) -> None:
    hook = {"url": "https://hooks.example.com/spikes", "secret": "s" * 16}
    body = {"name": "Acme", "keywords": ["acme"], "alerts": [hook]}
    assert api.post("/v1/brands", json=body).status_code == 201
    for url in ("http://127.0.0.1:9000/hook", "http://10.1.2.3/", "http://localhost/x"):
        bad = {**body, "slug": "acme-2", "alerts": [hook, {**hook, "url": url}]}
        problem = _problem(api.post("/v1/brands", json=bad), 422)
        assert problem["errors"][0]["field"] == "alerts[1].url"
        assert "must be public" in problem["errors"][0]["message"]
        patch = {"alerts": [{"url": url, "secret": "s" * 16}]}
        response = api.patch("/v1/brands/acme", json=patch, headers=MERGE_PATCH)
        assert _problem(response, 422)["errors"][0]["field"] == "alerts[0].url"
    assert store.hexists(KEYS.brand_docs, "acme-2") == 0
    assert stored(store, "acme")["alerts"] == [hook]  # unchanged


def stored(store: SyncRedis, slug: str) -> dict[str, Any]:
    document = store.hget(KEYS.brand_docs, slug)
    assert document is not None
    parsed: dict[str, Any] = json.loads(document)
    return parsed


def test_secrets_are_write_only_and_a_read_brand_sent_back_keeps_them(
    api: httpx.Client, store: SyncRedis
) -> None:
    secret, token = "whsec-0123456789abcdef", "Bearer feed-token-42"
    feed = {"type": "rss", "url": "https://feeds.example.com/acme.xml"}
    body = {
        "name": "Acme", "keywords": ["acme"],
        "alerts": [{"url": "https://hooks.example.com/spikes", "secret": secret}],
        "sources": [{**feed, "options": {"headers": {"Authorization": token, "Accept": "*/*"}}}],
    }  # fmt: skip
    created = api.post("/v1/brands", json=body)
    assert created.status_code == 201, created.text
    read = api.get("/v1/brands/acme").json()
    listed = api.get("/v1/brands").json()["items"]
    for served in (created.json(), read, *listed):
        assert served["alerts"] == [
            {"url": "https://hooks.example.com/spikes", "secret": "********"}
        ]
        assert served["sources"][0]["options"]["headers"] == {
            "Authorization": "********", "Accept": "********",
        }  # fmt: skip
        assert secret not in json.dumps(served)
        assert token not in json.dumps(served)

    read["name"] = "Acme Inc."  # read, change, send back (masks and all)
    read["sources"][0]["options"]["headers"]["Accept"] = "application/rss+xml"
    changed = api.patch("/v1/brands/acme", json=read, headers=MERGE_PATCH)
    assert changed.status_code == 200, changed.text
    kept = stored(store, "acme")
    assert kept["name"] == "Acme Inc."
    assert kept["alerts"][0]["secret"] == secret
    assert kept["sources"][0]["options"]["headers"] == {
        "Authorization": token, "Accept": "application/rss+xml",
    }  # fmt: skip

    moved = {"alerts": [{"url": "https://hooks.example.com/elsewhere", "secret": "********"}]}
    refused = api.patch("/v1/brands/acme", json=moved, headers=MERGE_PATCH)
    error = _problem(refused, 422)["errors"][0]
    assert error["field"] == "alerts[0].secret"
    assert "stands for a stored secret" in error["message"]
    new_header = {"sources": [{**feed, "options": {"headers": {"X-Key": "********"}}}]}
    refused = api.patch("/v1/brands/acme", json=new_header, headers=MERGE_PATCH)
    assert _problem(refused, 422)["errors"][0]["field"] == "sources[0].options.headers.X-Key"
    masked_create = {**body, "slug": "acme-2", "sources": new_header["sources"]}
    assert _problem(api.post("/v1/brands", json=masked_create), 422)["errors"][0]["field"] == (
        "sources[0].options.headers.X-Key"
    )
    assert stored(store, "acme") == kept
