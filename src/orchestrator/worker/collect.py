"""The reference ``collect`` handler: fetch a brand's sources, keep the mentions that match its
keywords, and send them through the same ingestion path as the API (so deduplication holds).

Each source's conditional-request state (ETag, Last-Modified, a file's read offset) is kept per
brand in Redis, so a re-run fetches only what changed. Loopback and private addresses are
refused unless ``COLLECT_ALLOW_PRIVATE`` is set; file sources must be under
``COLLECT_FILE_ROOT`` when it is set; each host gets at most ``COLLECT_RATE_PER_HOST`` requests
a second from one worker process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from orchestrator import __version__
from orchestrator.brand import Brand, FeedSource, FileSource, JsonSource
from orchestrator.mentions import MAX_MENTIONS, IngestOutcome, MentionStore
from orchestrator.protocol import Task
from orchestrator.sources import (
    AddressGuard,
    FetchOptions,
    FetchResult,
    FetchState,
    HostLimiter,
    KeywordMatcher,
    SourceError,
    fetch,
    keep_matching,
)
from orchestrator.worker.runner import Context, Reject

log = structlog.get_logger(__name__)

Source = FeedSource | JsonSource | FileSource
BATCH = 500


@dataclass(frozen=True)
class CollectOptions:
    allow_private: bool = False
    file_root: Path | None = None
    rate_per_host: float = 1.0

    @classmethod
    def from_settings(cls) -> CollectOptions:
        from orchestrator.config import load_settings  # noqa: PLC0415 - read when first needed

        settings = load_settings()
        return cls(
            settings.collect_allow_private,
            settings.collect_file_root,
            settings.collect_rate_per_host,
        )


@dataclass
class Collected:
    """What one run of a brand's sources did, returned as the task's result."""

    fetched: int = 0
    matched: int = 0
    accepted: int = 0
    duplicates: int = 0
    not_modified: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "matched": self.matched,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "notModified": self.not_modified,
            "errors": self.errors,
        }

    def add(self, result: FetchResult, matched: int, outcome: IngestOutcome) -> None:
        self.fetched += len(result.mentions)
        self.matched += matched
        self.accepted += outcome.accepted
        self.duplicates += outcome.duplicates
        self.not_modified += result.not_modified


class CollectHandler:
    """One per worker process: the HTTP client, the address guard and the per-host limiter."""

    def __init__(self, options: CollectOptions | None = None) -> None:
        self._options = options
        self._tools: tuple[httpx.AsyncClient, AddressGuard, HostLimiter, FetchOptions] | None = None

    async def __call__(self, task: Task, context: Context) -> dict[str, Any]:
        document = await context.redis.hget(context.keys.brand_docs, task.brand)
        if document is None:
            raise Reject(f"brand {task.brand!r} is not registered")
        brand = Brand.model_validate_json(document)
        run = _Run(brand.slug, KeywordMatcher.for_brand(brand), context, self._setup())
        for index, source in enumerate(brand.sources):
            await run.source(f"{index}:{_where(source)}", source)
        if brand.sources and len(run.collected.errors) == len(brand.sources):
            raise SourceError(task.brand, "; ".join(run.collected.errors))  # retried with backoff
        return run.collected.as_json()

    def _setup(self) -> tuple[httpx.AsyncClient, AddressGuard, HostLimiter, FetchOptions]:
        if self._tools is None:
            options = self._options or CollectOptions.from_settings()
            client = httpx.AsyncClient(
                headers={"user-agent": f"orchestrator-collect/{__version__}"},
                follow_redirects=False,
                trust_env=False,
            )
            self._tools = (
                client,
                AddressGuard(allow_private=options.allow_private),
                HostLimiter(options.rate_per_host),
                FetchOptions(file_root=options.file_root),
            )
        return self._tools


@dataclass
class _Run:
    """One run of one brand's sources."""

    slug: str
    matcher: KeywordMatcher
    context: Context
    tools: tuple[httpx.AsyncClient, AddressGuard, HostLimiter, FetchOptions]
    collected: Collected = field(default_factory=Collected)

    async def source(self, name: str, source: Source) -> None:
        client, guard, limiter, options = self.tools
        redis, keys = self.context.redis, self.context.keys
        saved = await redis.hget(keys.collect_state(self.slug), name)
        state = FetchState.from_document(json.loads(saved)) if saved else FetchState()
        try:
            result = await fetch(source, client, state, guard, limiter, options=options)
        except SourceError as exc:
            log.warning("collect.source_failed", brand=self.slug, source=name, error=exc.message)
            self.collected.errors.append(f"{name}: {exc.message}")
            return
        kept = keep_matching(result.mentions, self.matcher)
        outcome = await self._ingest(kept)
        await redis.hset(
            keys.collect_state(self.slug), name, json.dumps(result.state.to_document())
        )
        self.collected.add(result, len(kept), outcome)

    async def _ingest(self, mentions: list[dict[str, object]]) -> IngestOutcome:
        store = MentionStore(self.context.redis, self.context.keys)
        outcome = IngestOutcome()
        for start in range(0, len(mentions), min(BATCH, MAX_MENTIONS)):
            items = [json.dumps(mention).encode() for mention in mentions[start : start + BATCH]]
            part = await store.ingest(self.slug, items)
            outcome.accepted += part.accepted
            outcome.duplicates += part.duplicates
        return outcome


def _where(source: Source) -> str:
    return source.path if isinstance(source, FileSource) else str(source.url)
