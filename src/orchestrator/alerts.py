"""Spike alerts: signed webhooks, delivered from an outbox.

The spike watch records each spike event and, in the same transaction, appends it to the brand's
outbox (``orch:{slug}:alert-outbox``) and marks the brand due in ``orch:{alerts}:due``. Any
replica then claims due brands and, per brand under a short lease:

1. turns outbox events into deliveries, one per webhook (the global ``ALERT_WEBHOOKS`` and the
   brand's ``alerts``), each with a delivery id derived from the brand, the event and the URL,
   written only if absent: an event delivered twice to the outbox still makes one delivery;
2. POSTs each due delivery: the same body and ``X-Delivery-Id`` on every attempt,
   ``X-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook's secret>``; a 2xx is
   delivered, anything else is tried again with exponential backoff and full jitter, up to
   ``ALERT_MAX_ATTEMPTS``; an address refused by the guard (loopback, private) fails at once;
3. schedules the brand again for its next due delivery.

Delivery is at least once: a replica that dies after the receiver answered and before it
recorded the answer leaves the delivery to be sent again, with the same delivery id, which the
receiver uses to drop the repeat. Each brand keeps its last ``ALERT_LOG_KEEP`` finished
deliveries: ``GET /v1/brands/{slug}/alerts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, cast

import httpx
import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator import __version__
from orchestrator.brand import Brand, Webhook
from orchestrator.brand_view import SpikeView
from orchestrator.errors import RegistryError
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.schedule import backoff_ms
from orchestrator.sources import AddressGuard, AddressRefusedError
from orchestrator.spike_watch import decode_event
from orchestrator.spikes import SpikeEvent
from orchestrator.store.scripts import load_script
from orchestrator.summaries import Summaries

log = structlog.get_logger(__name__)

Status = Literal["pending", "delivered", "failed", "cancelled"]
_BODY = ":body"  # suffix of the hash field holding a delivery's body


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[Webhook, ...] = ()  # for every brand, besides the brand's own
    allow_private: bool = False  # deliver to loopback and private addresses
    max_attempts: int = 8
    timeout_s: float = 5.0
    retry_base_s: float = 2.0
    retry_max_s: float = 600.0
    log_keep: int = 200  # finished deliveries kept per brand
    lease_s: float = 60.0  # a brand's deliveries belong to one replica this long


class AlertPayload(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """The JSON body POSTed to a webhook."""

    delivery_id: str
    type: str = "spike"
    brand: str
    brand_name: str
    spike: SpikeView
    headline: str | None  # of the brand's summary made when the alert was raised
    raised_at: datetime


class Delivery(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One alert to one webhook, as ``GET /v1/brands/{slug}/alerts`` lists it."""

    delivery_id: str
    spike_at: datetime
    url: str
    status: Status
    attempts: int = 0
    next_attempt_at: datetime | None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


_encode = msgspec.json.Encoder().encode
_decode_delivery = msgspec.json.Decoder(Delivery).decode


def delivery_id(brand: str, event: SpikeEvent, url: str) -> str:
    """The same for one event and one webhook however often it is raised."""
    key = f"{brand}\n{event.resolution}\n{event.at}\n{url}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def signature(secret: str, body: bytes) -> str:
    """``X-Signature``'s value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Alerts:
    redis: Redis
    keys: Keys
    registry: Registry
    summaries: Summaries
    metrics: Metrics
    owner: str  # this replica's id, held in the per-brand lease
    settings: AlertSettings = field(default_factory=AlertSettings)
    every_s: float = 1.0
    batch: int = 50  # brands claimed per step

    def __post_init__(self) -> None:
        s = self.settings
        self.http = httpx.AsyncClient(
            timeout=s.timeout_s,
            follow_redirects=False,
            headers={"user-agent": f"orchestrator/{__version__}"},
        )
        self.guard = AddressGuard(allow_private=s.allow_private)
        self._claim = load_script(self.redis, "alerts_claim")
        self._settle = load_script(self.redis, "alerts_settle")
        self._release = load_script(self.redis, "leader_release")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def step(self) -> float:
        """Deliver what is due for the brands this replica claims."""
        now_ms = _now_ms()
        lease_ms = int(self.settings.lease_s * 1000)
        found = await self._claim(keys=[self.keys.alert_due], args=[now_ms, lease_ms, self.batch])
        pairs = list(zip(found[::2], found[1::2], strict=True))
        async with asyncio.TaskGroup() as group:
            for slug, claim in pairs:
                group.create_task(self._deliver_brand(slug.decode(), claim.decode(), lease_ms))
        return self.every_s

    async def deliveries(self, slug: str, limit: int) -> list[Delivery]:
        """The brand's deliveries, newest first."""
        found = cast(dict[bytes, bytes], await self.redis.hgetall(self.keys.alert_deliveries(slug)))
        items = [_decode_delivery(v) for k, v in found.items() if not k.endswith(_BODY.encode())]
        items.sort(key=lambda d: (d.created_at, d.delivery_id), reverse=True)
        return items[:limit]

    async def _deliver_brand(self, slug: str, claim: str, lease_ms: int) -> None:
        k = self.keys
        if not await self.redis.set(k.alert_lease(slug), self.owner, nx=True, px=lease_ms):
            return  # another replica holds it; the claim runs out and it is due again
        next_due: int | None = _now_ms() + 5_000  # if this fails, try again soon
        try:
            brand = await self._brand(slug)
            hooks = self._webhooks(brand)
            await self._expand(slug, brand, hooks)
            next_due = await self._send_due(slug, hooks)
        except Exception:
            log.exception("alerts.brand_failed", brand=slug)
        finally:
            args = [slug, claim, "" if next_due is None else next_due]
            await self._settle(keys=[k.alert_due], args=args)
            await self._release(keys=[k.alert_lease(slug)], args=[self.owner])

    async def _brand(self, slug: str) -> Brand | None:
        try:
            return await self.registry.get(slug)
        except RegistryError:  # deleted: its alerts are not delivered
            return None

    def _webhooks(self, brand: Brand | None) -> dict[str, Webhook]:
        """URL → webhook for the brand; none when the brand is gone."""
        if brand is None:
            return {}
        return {str(h.url): h for h in (*self.settings.webhooks, *brand.alerts)}

    async def _expand(self, slug: str, brand: Brand | None, hooks: dict[str, Webhook]) -> None:
        """Outbox events → one delivery per webhook (kept if it exists), events removed."""
        k = self.keys
        events = cast(list[bytes], await self.redis.lrange(k.alert_outbox(slug), 0, -1))
        if not events:
            return
        if brand is None or not hooks:  # the brand is gone, or no webhook: nothing to deliver
            await self.redis.ltrim(k.alert_outbox(slug), len(events), -1)
            return
        headline = await self._headline(slug)
        now_ms = _now_ms()
        async with self.redis.pipeline(transaction=True) as pipe:
            for raw in events:
                event = decode_event(raw)
                for url in hooks:
                    did = delivery_id(slug, event, url)
                    payload = AlertPayload(
                        delivery_id=did,
                        brand=slug,
                        brand_name=brand.name,
                        spike=SpikeView.of(event),
                        headline=headline,
                        raised_at=_at(now_ms),
                    )
                    delivery = Delivery(
                        delivery_id=did,
                        spike_at=_at(event.at),
                        url=url,
                        status="pending",
                        next_attempt_at=_at(now_ms),
                        created_at=_at(now_ms),
                    )
                    pipe.hsetnx(k.alert_deliveries(slug), did, _encode(delivery))
                    pipe.hsetnx(k.alert_deliveries(slug), did + _BODY, _encode(payload))
            pipe.ltrim(k.alert_outbox(slug), len(events), -1)
            await pipe.execute()

    async def _headline(self, slug: str) -> str | None:
        """The headline of a summary made now (it knows the spike), else of the latest one."""
        try:
            return (await self.summaries.refresh(slug)).headline
        except Exception:  # the alert matters more than its headline
            log.exception("alerts.summary_failed", brand=slug)
            return None

    async def _send_due(self, slug: str, hooks: dict[str, Webhook]) -> int | None:
        """Send the brand's due deliveries; when its next one is due (ms), or None."""
        key = self.keys.alert_deliveries(slug)
        found = cast(dict[bytes, bytes], await self.redis.hgetall(key))
        now_ms = _now_ms()
        next_due: int | None = None
        finished: list[Delivery] = []
        for name, raw in found.items():
            if name.endswith(_BODY.encode()):
                continue
            delivery = _decode_delivery(raw)
            if delivery.status == "pending" and delivery.next_attempt_at is not None:
                due_ms = int(delivery.next_attempt_at.timestamp() * 1000)
                if due_ms <= now_ms:
                    body = found.get(name + _BODY.encode(), b"")
                    delivery = await self._attempt(delivery, body, hooks.get(delivery.url))
                    await self.redis.hset(key, name, _encode(delivery))
            if delivery.status == "pending" and delivery.next_attempt_at is not None:
                due_ms = int(delivery.next_attempt_at.timestamp() * 1000)
                next_due = due_ms if next_due is None else min(next_due, due_ms)
            else:
                finished.append(delivery)
        await self._trim(key, finished)
        return next_due

    async def _attempt(self, delivery: Delivery, body: bytes, hook: Webhook | None) -> Delivery:
        """One POST of ``delivery``; its next state."""
        replace = msgspec.structs.replace
        now = datetime.now(UTC)
        if hook is None:
            self.metrics.alerts_sent.labels("cancelled").inc()
            return replace(
                delivery, status="cancelled", next_attempt_at=None, finished_at=now,
                last_error="the webhook is no longer configured",
            )  # fmt: skip
        attempt = delivery.attempts + 1
        try:
            await self.guard.check(delivery.url)
        except AddressRefusedError as exc:
            self.metrics.alerts_sent.labels("refused").inc()
            log.warning("alert.refused", url=delivery.url, reason=exc.message)
            return replace(
                delivery, status="failed", attempts=attempt, next_attempt_at=None,
                finished_at=now, last_error=f"refused: {exc.message}",
            )  # fmt: skip
        headers = {
            "content-type": "application/json",
            "x-delivery-id": delivery.delivery_id,
            "x-attempt": str(attempt),
            "x-signature": signature(hook.secret, body),
        }
        code: int | None = None
        try:
            response = await self.http.post(delivery.url, content=body, headers=headers)
            code = response.status_code
            error = None if 200 <= code < 300 else f"HTTP {code}"
        except httpx.TimeoutException:
            error = f"no answer within {self.settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        if error is None or attempt >= self.settings.max_attempts:
            status: Status = "delivered" if error is None else "failed"
            self.metrics.alerts_sent.labels(status).inc()
            report = log.info if error is None else log.warning
            report(f"alert.{status}", delivery=delivery.delivery_id, attempt=attempt, error=error)
            return replace(
                delivery, status=status, attempts=attempt, next_attempt_at=None,
                last_status_code=code, last_error=error, finished_at=now,
            )  # fmt: skip
        self.metrics.alerts_sent.labels("retried").inc()
        s = self.settings
        wait = backoff_ms(
            attempt, base_ms=int(s.retry_base_s * 1000), cap_ms=int(s.retry_max_s * 1000)
        )
        return replace(
            delivery, attempts=attempt, last_status_code=code, last_error=error,
            next_attempt_at=_at(_now_ms() + wait),
        )  # fmt: skip

    async def _trim(self, key: str, finished: list[Delivery]) -> None:
        excess = len(finished) - self.settings.log_keep
        if excess > 0:
            finished.sort(key=lambda d: d.created_at)
            gone = [d.delivery_id for d in finished[:excess]]
            await self.redis.hdel(key, *gone, *(g + _BODY for g in gone))
