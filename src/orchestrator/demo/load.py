"""Load the demo: register its brands (those missing) and send its mentions through the same
ingestion path as the API, so deduplication holds and loading twice adds nothing."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources

import structlog

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.config import Settings
from orchestrator.errors import BrandExistsError
from orchestrator.mentions import MAX_MENTIONS, MentionStore
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.store.connection import connect, create_client

log = structlog.get_logger(__name__)

BATCH = 500


@dataclass
class DemoLoad:
    brands: list[str] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


def brand_specs() -> list[BrandCreate]:
    raw = (resources.files("orchestrator.demo") / "brands.json").read_text()
    return [BrandCreate.model_validate(spec) for spec in json.loads(raw)]


def mentions_by_brand() -> dict[str, list[bytes]]:
    """The dataset's mentions per brand, as the API takes them (without the ``brand`` key)."""
    found: dict[str, list[bytes]] = defaultdict(list)
    with (resources.files("orchestrator.demo") / "mentions.jsonl").open("rb") as lines:
        for line in lines:
            if line.strip():
                mention = json.loads(line)
                found[mention.pop("brand")].append(json.dumps(mention).encode())
    return found


async def load_demo(registry: Registry, mentions: MentionStore) -> DemoLoad:
    loaded = DemoLoad()
    for spec in brand_specs():
        with contextlib.suppress(BrandExistsError):  # loaded before: keep it as it is
            await registry.create(new_brand(spec, now()))
        loaded.brands.append(str(spec.slug))
    for slug, items in mentions_by_brand().items():
        for start in range(0, len(items), min(BATCH, MAX_MENTIONS)):
            outcome = await mentions.ingest(slug, items[start : start + BATCH])
            loaded.accepted[slug] = loaded.accepted.get(slug, 0) + outcome.accepted
            loaded.duplicates += outcome.duplicates
    log.info(
        "demo.loaded", brands=loaded.brands, accepted=loaded.accepted, duplicates=loaded.duplicates
    )
    return loaded


async def load_demo_with(settings: Settings) -> DemoLoad:
    """``load_demo`` on a client of its own (the one-machine start runs it beside the app)."""
    assert settings.redis_url is not None
    keys = settings.keys()
    redis = create_client(settings, settings.redis_url)
    try:
        await connect(redis)
        registry = Registry(redis, keys, Metrics())
        return await load_demo(registry, MentionStore(redis, keys, settings.mention_settings()))
    finally:
        await redis.aclose()
