"""The reference ``analyze`` handler: read a chunk's mentions, return its chunk result."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import structlog

from orchestrator.analysis import Analyzer, BrandTerms
from orchestrator.brand import Brand
from orchestrator.mentions import Mention, decode_mention
from orchestrator.protocol import Task
from orchestrator.store.streams import read_range
from orchestrator.worker.runner import Context, Reject

log = structlog.get_logger(__name__)

_TERMS_TTL_S = 60.0


class AnalyzeHandler:
    """Holds the per-process analyzer (built on first use) and the brands' names."""

    def __init__(self, embedding: str | None = None) -> None:
        self._embedding = embedding  # "lexical" or "semantic"; None: ANALYZE_EMBEDDING
        self._analyzer: Analyzer | None = None
        self._terms: dict[str, tuple[float, BrandTerms]] = {}

    async def __call__(self, task: Task, context: Context) -> dict[str, Any]:
        payload = task.payload
        chunk_id, first, last = payload.get("chunkId"), payload.get("fromId"), payload.get("toId")
        if not (isinstance(chunk_id, str) and isinstance(first, str) and isinstance(last, str)):
            raise Reject("an analyze task needs chunkId, fromId and toId")
        entries = await read_range(context.redis, context.keys.mentions(task.brand), first, last)
        mentions: list[Mention] = []
        for entry_id, raw in entries:
            try:
                mentions.append(decode_mention(raw))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("analyze.bad_mention", entry=entry_id, error=str(exc))
        terms = await self._brand_terms(task.brand, context)
        analyzer = self._analyzer
        if analyzer is None:  # the first task: the models load off the event loop
            analyzer = await asyncio.to_thread(self._build)
        # CPU-bound: in a thread, so the worker keeps reading, acknowledging and heartbeating.
        return await asyncio.to_thread(analyzer.analyze, chunk_id, task.brand, terms, mentions)

    def _build(self) -> Analyzer:
        embedding = self._embedding
        if embedding is None:
            from orchestrator.config import load_settings  # noqa: PLC0415 - read when first needed

            embedding = load_settings().analyze_embedding
        semantic = None
        if embedding == "semantic":
            from orchestrator.semantic import load_semantic  # noqa: PLC0415 - an optional extra

            semantic = load_semantic()  # ImportError with the install hint when missing
        self._analyzer = Analyzer(semantic=semantic)
        return self._analyzer

    async def _brand_terms(self, slug: str, context: Context) -> BrandTerms:
        now = time.monotonic()
        cached = self._terms.get(slug)
        if cached is not None and now - cached[0] < _TERMS_TTL_S:
            return cached[1]
        document = await context.redis.hget(context.keys.brand_docs, slug)
        names: tuple[str, ...] = (slug,)
        if document is not None:
            brand = Brand.model_validate_json(document)
            names = (slug, brand.name, *brand.keywords)
        terms = BrandTerms(names)
        self._terms[slug] = (now, terms)
        return terms
