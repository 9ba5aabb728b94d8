"""Parked payloads: results that could not be applied, kept with the reason and the raw payload.

Every parked payload goes to one bounded stream (``GET /v1/failed`` pages it, newest first);
one that names an existing brand also goes to that brand's ``failed:brand:{slug}`` list, as the
original service did. Neither ever stops the collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import msgspec
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.protocol import utcnow
from orchestrator.store.streams import read_range_reverse
from orchestrator.types import text

RAW_LIMIT = 64 * 1024  # bytes of the raw payload kept


class Reason(StrEnum):
    """Why a payload was parked: the metric's label, next to the full message."""

    NOT_JSON = "not_json"
    INVALID = "invalid"  # the wrong types, negative counts, non-finite numbers, oversized arrays
    DIMENSION = "dimension"  # centroids of another dimension than the brand's for the model
    UNKNOWN_BRAND = "unknown_brand"
    BRAND_MISMATCH = "brand_mismatch"


class Parked(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    reason: Reason
    message: str
    brand: str | None
    source: Literal["stream", "legacy"]
    raw: str
    truncated: bool = False
    parked_at: datetime
    id: str | None = None  # the entry id in the failed stream, when read back


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Parked).decode


def parked(
    reason: Reason,
    message: str,
    raw: bytes,
    *,
    brand: str | None,
    source: Literal["stream", "legacy"],
) -> Parked:
    return Parked(
        reason=reason,
        message=message,
        brand=brand,
        source=source,
        raw=raw[:RAW_LIMIT].decode(errors="replace"),
        truncated=len(raw) > RAW_LIMIT,
        parked_at=utcnow(),
    )


@dataclass(frozen=True)
class ParkedPage:
    items: list[Parked]
    next_cursor: str | None


class ParkingLot:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        *,
        keep_total: int = 10_000,
        keep_per_brand: int = 1_000,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.keep_total = keep_total
        self.keep_per_brand = keep_per_brand

    async def park(self, items: list[Parked], known_brands: set[str]) -> None:
        """Store parked payloads; ``known_brands`` get a copy in their legacy failed list."""
        if not items:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                doc = _encode(item)
                pipe.xadd(self.keys.failed_stream, {"m": doc}, maxlen=self.keep_total)
                if item.brand is not None and item.brand in known_brands:
                    failed = self.keys.legacy_failed(item.brand)
                    pipe.rpush(failed, doc)
                    pipe.ltrim(failed, -self.keep_per_brand, -1)
            await pipe.execute()
        for item in items:
            self.metrics.payloads_parked.labels(item.reason.value).inc()

    async def page(self, limit: int, cursor: str | None = None) -> ParkedPage:
        """Parked payloads of every brand, newest first; ``cursor`` continues a page."""
        upper = f"({cursor}" if cursor else "+"
        entries = await read_range_reverse(
            self.redis, self.keys.failed_stream, upper, "-", limit + 1
        )
        items = [msgspec.structs.replace(_decode(raw), id=text(eid)) for eid, raw in entries]
        more = len(items) > limit
        items = items[:limit]
        return ParkedPage(items, items[-1].id if more and items else None)

    async def page_of(self, brand: str, limit: int, cursor: str | None = None) -> ParkedPage:
        """One brand's parked payloads (its ``failed:brand:{slug}`` list), newest first."""
        offset = int(cursor) if cursor else 0
        key = self.keys.legacy_failed(brand)
        raws = await self.redis.lrange(key, -(offset + limit + 1), -(offset + 1))
        docs = list(reversed(raws))
        items = [_decode(raw) for raw in docs[:limit]]
        more = len(docs) > limit
        return ParkedPage(items, str(offset + limit) if more else None)
