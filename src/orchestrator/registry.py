"""The brand registry in Redis: every change to a brand and to what derives from it (the status
indexes, the due-time index dispatch reads) is one atomic Lua script on the ``{registry}`` hash
slot.

The original's ``brands:list`` keeps its name, so on a cluster it lives in another slot and
follows each change in a step of its own: a create lists the slug and then marks it as listed
by us (``Keys.brand_listed``); a delete unlists it and then drops the mark. The legacy sync
(``orchestrator.legacy``) finishes whatever a crash left half done, and the marks tell it a
slug another tool removed (marked, not listed) from one not listed yet (not marked).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog
from redis.asyncio import Redis

from orchestrator.brand import SLUG_PATTERN, Brand, legacy_brand, now
from orchestrator.errors import (
    BrandExistsError,
    BrandNotFoundError,
    VersionConflictError,
)
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.store.durability import Durability
from orchestrator.store.scripts import load_script
from orchestrator.types import BrandStatus, text

log = structlog.get_logger(__name__)

ANY_VERSION = "*"
_FILTER_BUDGET = 1000  # slugs examined per filtered page at most (~1.5 ms inside Valkey)


@dataclass(frozen=True)
class Page:
    """Brand documents (JSON bytes, as stored) and the cursor of the next page, if any."""

    documents: list[bytes]
    next_cursor: str | None


def encode_cursor(slug: str) -> str:
    return base64.urlsafe_b64encode(slug.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The slug a cursor points after; ValueError when it is not one of ours."""
    try:
        slug = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor returned by this API") from None
    if not is_slug(slug):
        raise ValueError("not a cursor returned by this API")
    return slug


def is_slug(text: str) -> bool:
    return re.fullmatch(SLUG_PATTERN, text) is not None


class Registry:
    """Brands in Redis. Reads return stored bytes; writes go through the Lua scripts, and a
    change the API acknowledges is confirmed by ``durability``'s replicas first."""

    def __init__(
        self, redis: Redis, keys: Keys, metrics: Metrics, durability: Durability | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.durability = durability or Durability(redis)
        self._save = load_script(redis, "registry_save")
        self._delete = load_script(redis, "registry_delete")
        self._page = load_script(redis, "registry_page")
        self._list_edit = load_script(redis, "brands_list_edit")

    async def get_document(self, slug: str) -> bytes | None:
        with self.metrics.redis_timer("registry_get"):
            document = await self.redis.hget(self.keys.brand_docs, slug)
        return document if isinstance(document, bytes) else None

    async def known(self, slugs: list[str]) -> set[str]:
        """Those of ``slugs`` that are registered brands."""
        if not slugs:
            return set()
        found = await self.redis.hmget(self.keys.brand_versions, slugs)
        return {slug for slug, version in zip(slugs, found, strict=True) if version is not None}

    async def slugs(self) -> list[str]:
        """Every registered slug, in order."""
        found = cast(list[bytes], await self.redis.zrange(self.keys.brand_index, 0, -1))
        return [text(slug) for slug in found]

    async def get(self, slug: str) -> Brand:
        document = await self.get_document(slug)
        if document is None:
            raise BrandNotFoundError(slug)
        return Brand.model_validate_json(document)

    async def create(self, brand: Brand) -> Brand:
        await self._write(brand, expected="", due="set")
        await self.list_slug(brand.slug)
        log.info("brand.created", brand=brand.slug)
        return brand

    async def replace(self, brand: Brand, expected_version: int | str) -> Brand:
        """Store ``brand`` if the stored version is ``expected_version`` (or ANY_VERSION)."""
        await self._write(brand, expected=str(expected_version), due="keep")
        log.info("brand.updated", brand=brand.slug, version=brand.version)
        return brand

    async def update(
        self, slug: str, change: Callable[[Brand], Brand], *, due: str = "keep"
    ) -> Brand:
        """Read, change and write back, retrying when another writer got in between."""
        while True:
            current = await self.get(slug)
            changed = change(current)
            if changed is current:
                return current
            try:
                await self._write(changed, expected=str(current.version), due=due)
            except VersionConflictError:
                continue
            log.info("brand.updated", brand=slug, version=changed.version)
            return changed

    async def set_status(self, slug: str, status: BrandStatus) -> Brand:
        """Pause (no new tasks; in-flight ones finish) or resume (due at once)."""

        def with_status(brand: Brand) -> Brand:
            if brand.status == status:
                return brand
            return brand.model_copy(
                update={"status": status, "version": brand.version + 1, "updated_at": now()}
            )

        return await self.update(slug, with_status, due="set")

    async def delete(self, slug: str, *, purge: bool = False) -> None:
        with self.metrics.redis_timer("registry_delete"):
            existed = await self.durability.run(self._delete, self._delete_keys, [slug, "0"])
        if not existed:
            raise BrandNotFoundError(slug)
        if purge:
            with self.metrics.redis_timer("registry_purge"):
                await self._unlink(self.keys.brand_data(slug))
        await self.unlist_slug(slug)
        await self._forgotten(slug)
        log.info("brand.deleted", brand=slug, purge=purge)

    async def page(
        self, *, status: BrandStatus | None, q: str | None, limit: int, cursor: str | None
    ) -> Page:
        index = self.keys.brand_status_index(status.value) if status else self.keys.brand_index
        start = decode_cursor(cursor) if cursor else ""
        args: list[str | int] = [start, limit, (q or "").lower(), _FILTER_BUDGET]
        with self.metrics.redis_timer("registry_page"):
            last, documents = await self._page(
                keys=[index, self.keys.brand_docs, self.keys.brand_search], args=args
            )
        next_cursor = encode_cursor(last.decode()) if last else None
        return Page([document for document in documents if document], next_cursor)

    async def adopt(self, slug: str) -> bool:
        """Register a slug found only in ``brands:list``, with default settings."""
        try:
            await self.create(legacy_brand(slug, now()))
        except BrandExistsError:
            return False
        log.info("brand.adopted", brand=slug)
        return True

    async def delete_if_unlisted(self, slug: str) -> bool:
        """Delete a brand another tool removed from ``brands:list`` (unless it is back, or
        this service never listed it)."""
        if await self.is_listed(slug):
            return False
        with self.metrics.redis_timer("registry_delete"):
            deleted = bool(await self._delete(keys=self._delete_keys, args=[slug, "1"]))
        if deleted:
            await self._forgotten(slug)
            log.info("brand.unlisted", brand=slug)
        return deleted

    async def is_listed(self, slug: str) -> bool:
        """Whether ``brands:list`` holds ``slug``."""
        return bool(await self._list_edit(keys=[self.keys.brands_list], args=["has", slug]))

    async def list_slug(self, slug: str) -> None:
        """Put ``slug`` in ``brands:list``, then remember that this service listed it."""
        await self._list_edit(keys=[self.keys.brands_list], args=["add", slug])
        await self.redis.sadd(self.keys.brand_listed, slug)

    async def unlist_slug(self, slug: str) -> None:
        """Take ``slug`` out of ``brands:list``, then forget that this service listed it."""
        await self._list_edit(keys=[self.keys.brands_list], args=["remove", slug])
        await self.redis.srem(self.keys.brand_listed, slug)

    async def marked(self, slugs: list[str]) -> set[str]:
        """Those of ``slugs`` this service has listed in ``brands:list``."""
        if not slugs:
            return set()
        found = await self.redis.smismember(self.keys.brand_listed, slugs)
        return {slug for slug, member in zip(slugs, found, strict=True) if member}

    async def _forgotten(self, slug: str) -> None:
        """Tell every replica's summary cache that the brand's summary is no longer served."""
        await self.redis.publish(self.keys.summary_channel, slug)

    async def _write(self, brand: Brand, *, expected: str, due: str) -> None:
        args: list[str | bytes | int] = [
            brand.slug,
            brand.to_json(),
            brand.version,
            expected,
            brand.status.value,
            brand.search_text(),
            int(time.time() * 1000),
            due,
        ]
        with self.metrics.redis_timer("registry_save"):
            outcome = await self.durability.run(self._save, self._save_keys, args)
        verdict = outcome[0].decode()
        if verdict == "exists":
            raise BrandExistsError(brand.slug)
        if verdict == "missing":
            raise BrandNotFoundError(brand.slug)
        if verdict == "stale":
            raise VersionConflictError(brand.slug, int(outcome[1]))

    @property
    def _save_keys(self) -> list[str]:
        return [*self.keys.registry_script_keys(), self.keys.brand_listed_tracked]

    @property
    def _delete_keys(self) -> list[str]:
        return [*self.keys.registry_script_keys(), self.keys.brand_listed]

    async def _unlink(self, keys: list[str]) -> None:
        # per-brand keys live in several slots on a cluster: its client splits UNLINK by slot
        await self.redis.unlink(*keys)
