"""Load the demo: register its brands (those missing) and send its mentions through the same
ingestion path as the API, so deduplication holds and loading twice adds nothing.

The mentions were written for six days ending 2026-11-28. Loaded later, they move forward by
whole days so that their last day is the day before the load: the dashboard's default range
shows them whenever the demo is loaded, with the daily rhythm and the recall's hours intact."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import structlog

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.config import Settings
from orchestrator.demo.generate import END
from orchestrator.errors import BrandExistsError
from orchestrator.mentions import MAX_MENTIONS, MentionStore
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.schedule import Cadence
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


def demo_offset(today: date) -> timedelta:
    """How far the demo's mentions move when loaded on ``today``: whole days, never back."""
    return timedelta(days=max(0, (today - END.date()).days - 1))


def mentions_by_brand(offset: timedelta = timedelta(0)) -> dict[str, list[bytes]]:
    """The dataset's mentions per brand, as the API takes them (without the ``brand`` key),
    written ``offset`` later."""
    found: dict[str, list[bytes]] = defaultdict(list)
    with (resources.files("orchestrator.demo") / "mentions.jsonl").open("rb") as lines:
        for line in lines:
            if line.strip():
                mention = json.loads(line)
                if offset:
                    written = datetime.fromisoformat(mention["createdAt"]) + offset
                    mention["createdAt"] = written.strftime("%Y-%m-%dT%H:%M:%SZ")
                found[mention.pop("brand")].append(json.dumps(mention).encode())
    return found


async def load_demo(
    registry: Registry, mentions: MentionStore, today: date | None = None
) -> DemoLoad:
    """Load the demo as of ``today`` (default: the current UTC date)."""
    offset = demo_offset(today or datetime.now(UTC).date())
    loaded = DemoLoad()
    cadences: dict[str, Cadence] = {}
    for spec in brand_specs():
        with contextlib.suppress(BrandExistsError):  # loaded before: keep it as it is
            await registry.create(new_brand(spec, now()))
        loaded.brands.append(str(spec.slug))
        cadences[str(spec.slug)] = spec.cadence
    for slug, items in mentions_by_brand(offset).items():
        for start in range(0, len(items), min(BATCH, MAX_MENTIONS)):
            batch = items[start : start + BATCH]
            outcome = await mentions.ingest(slug, batch, cadences[slug])
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
