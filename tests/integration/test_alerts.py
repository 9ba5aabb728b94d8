"""Spike alerts against a real store and a real HTTP receiver on loopback: signed, delivered
from the outbox, retried with the same delivery id, never duplicated across replicas, and never
sent to a refused address."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.alerts import Alerts, Delivery
from tests.collection import KEYS, Parts, build, inject_spike
from tests.http_server import serving

pytestmark = pytest.mark.anyio
GLOBAL_SECRET = "global-secret-0123456789"  # noqa: S105 - test secrets
BRAND_SECRET = "brand-secret-0123456789"  # noqa: S105


@dataclass
class Receiver:
    """Records every POST; answers the next scripted status codes, then 204."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.seen.append((request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 204)

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.seen if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/{name}", found.hook, methods=["POST"])])
    with serving(app) as url:
        found.url = url
        yield found


@pytest.fixture
async def replicas(redis: Redis, receiver: Receiver) -> AsyncIterator[list[Parts]]:
    """Two replicas' collection sides; a global webhook and one on brand ``nike``."""
    settings: dict[str, Any] = {
        "alert_allow_private": True,  # the receiver is on loopback
        "alert_webhooks": [{"url": f"{receiver.url}/global", "secret": GLOBAL_SECRET}],
        "alert_retry_base_sec": 0.01,
        "alert_retry_max_sec": 0.02,
        "alert_max_attempts": 3,
    }
    built = [build(redis, f"replica-{i}", **settings) for i in range(2)]
    await built[0].add_brand(
        "nike", alerts=[{"url": f"{receiver.url}/brand", "secret": BRAND_SECRET}]
    )
    yield built
    for parts in built:
        await parts.collection.alerts.aclose()


def alerts(parts: Parts) -> Alerts:
    return parts.collection.alerts


async def deliver_until_settled(*sides: Parts, rounds: int = 200) -> list[Delivery]:
    """Step every replica's alert loop until the brand has no pending delivery."""
    for _ in range(rounds):
        await asyncio.gather(*(alerts(p).step() for p in sides))
        found = await alerts(sides[0]).deliveries("nike", 100)
        settled = found and all(d.status != "pending" for d in found)
        if settled and not await sides[0].redis.zscore(KEYS.alert_due, "nike"):
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"deliveries still pending: {found}")


async def test_a_spike_alert_is_signed_delivered_once_and_logged(
    replicas: list[Parts], receiver: Receiver
) -> None:
    (event,) = await inject_spike(replicas[0])
    deliveries = await deliver_until_settled(replicas[0])
    assert sorted(d.url for d in deliveries) == [
        f"{receiver.url}/brand",
        f"{receiver.url}/global",
    ]
    outcomes = {(d.status, d.attempts, d.last_status_code) for d in deliveries}
    assert outcomes == {("delivered", 1, 204)}
    for path, secret in (("/global", GLOBAL_SECRET), ("/brand", BRAND_SECRET)):
        ((headers, body),) = receiver.at(path)
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-signature"] == f"sha256={expected}"  # what a receiver verifies
        payload = json.loads(body)
        assert payload["deliveryId"] == headers["x-delivery-id"]
        assert (payload["brand"], payload["type"]) == ("nike", "spike")
        assert payload["spike"]["volume"] == event.volume == 250
        assert "spike" in payload["headline"]  # the summary made when the alert was raised
    summary = json.loads(cast(bytes, await replicas[0].redis.get("summary:brand:nike")))
    assert summary["spikeDetected"] is True
    for _ in range(3):
        await alerts(replicas[0]).step()
    assert len(receiver.seen) == 2  # nothing sent again


async def test_a_failed_delivery_is_retried_with_the_same_id_and_body(
    replicas: list[Parts], receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]  # the first two POSTs fail, whichever webhook they are for
    await inject_spike(replicas[0])
    deliveries = await deliver_until_settled(replicas[0])
    assert all(d.status == "delivered" for d in deliveries)
    assert sum(d.attempts for d in deliveries) == 4
    for path in ("/global", "/brand"):
        sent = receiver.at(path)
        assert len({h["x-delivery-id"] for h, _ in sent}) == 1
        assert len({body for _, body in sent}) == 1
        assert [h["x-attempt"] for h, _ in sent] == [str(i + 1) for i in range(len(sent))]


async def test_a_delivery_gives_up_after_its_attempts(
    replicas: list[Parts], receiver: Receiver
) -> None:
    receiver.statuses = [500] * 100
    await inject_spike(replicas[0])
    deliveries = await deliver_until_settled(replicas[0])
    assert [(d.status, d.attempts, d.last_error) for d in deliveries] == [
        ("failed", 3, "HTTP 500")
    ] * 2
    assert len(receiver.seen) == 6


async def test_two_replicas_deliver_each_event_once(
    redis: Redis, replicas: list[Parts], receiver: Receiver
) -> None:
    assert len(await inject_spike(replicas[0])) == 1
    raw = cast(bytes, await redis.lindex(KEYS.alert_outbox("nike"), 0))
    await redis.rpush(KEYS.alert_outbox("nike"), raw)  # the same event raised twice
    deliveries = await deliver_until_settled(*replicas)
    assert len(deliveries) == 2
    assert len(receiver.at("/global")) == 1
    assert len(receiver.at("/brand")) == 1


async def test_a_webhook_resolving_to_loopback_is_refused_at_delivery(
    redis: Redis, receiver: Receiver
) -> None:
    parts = build(redis, "replica-0")  # ALERT_ALLOW_PRIVATE unset
    try:
        port = receiver.url.rsplit(":", 1)[1]
        hook = {"url": f"http://localhost:{port}/brand", "secret": BRAND_SECRET}
        await parts.add_brand("nike", alerts=[hook])  # the API refuses this; the store did not
        await inject_spike(parts)
        (delivery,) = await deliver_until_settled(parts)
        assert delivery.status == "failed"
        assert delivery.last_error is not None
        assert "loopback" in delivery.last_error
        assert receiver.seen == []
    finally:
        await alerts(parts).aclose()
