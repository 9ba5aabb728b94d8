"""The reference analyze handler against a real server: a chunk of the themes fixture becomes
a valid chunk result with per-mention sentiment and theme-pure clusters."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.chunk_result import decode_result
from orchestrator.keys import Keys
from orchestrator.mentions import Mention, encode_entry
from orchestrator.metrics import Metrics
from orchestrator.protocol import encode, new_task
from orchestrator.registry import Registry
from orchestrator.types import text
from orchestrator.worker.analyze import AnalyzeHandler
from orchestrator.worker.runner import Context

KEYS = Keys()
THEMES = Path(__file__).parent.parent / "fixtures" / "themes.jsonl"


async def analyze(
    redis: Redis, rows: list[dict[str, Any]], handler: AnalyzeHandler | None = None
) -> dict[str, Any]:
    spec = {"name": "Quillfern Audio", "slug": "quillfern",
            "keywords": ["Quillfern", "Quillfern Arc", "Quillfern Loop"]}  # fmt: skip
    await Registry(redis, KEYS, Metrics()).create(
        new_brand(BrandCreate.model_validate(spec), now())
    )
    ids = []
    for row in rows:
        mention = Mention(id=row["id"], text=row["text"], source="x")
        ids.append(await redis.xadd(KEYS.mentions("quillfern"), encode_entry(mention)))  # type: ignore[arg-type]
    payload = {"chunkId": "quillfern-1", "fromId": text(ids[0]), "toId": text(ids[-1])}
    task = new_task("analyze", "quillfern", payload, fence=1, max_attempts=3)
    return await (handler or AnalyzeHandler("lexical"))(task, Context(redis, KEYS, "w1"))


async def test_a_chunk_becomes_a_compatible_result_with_theme_pure_clusters(redis: Redis) -> None:
    rows = [json.loads(line) for line in THEMES.read_text().splitlines()]
    result = await analyze(redis, rows)
    decoded = decode_result(encode(result))  # what the collector will accept
    assert decoded.mention_count == len(rows)
    assert [m.id for m in decoded.mentions] == [row["id"] for row in rows]
    counts = decoded.sentiment
    assert counts.positive + counts.neutral + counts.negative == len(rows)
    assert decoded.embedding_model == "orchestrator/hashed-tfidf-512"
    theme = {row["id"]: row["theme"] for row in rows}
    mixes = [Counter(theme[i] for i in cluster.mentions) for cluster in decoded.clusters]
    clustered = sum(sum(mix.values()) for mix in mixes)
    purity = sum(mix.most_common(1)[0][1] for mix in mixes) / clustered
    assert purity >= 0.8
    assert clustered >= 0.75 * len(rows)
    dominant = {mix.most_common(1)[0][0] for mix in mixes}
    assert dominant == {"battery", "delivery"}  # the two themes land in different clusters
    texts = {row["id"]: row["text"] for row in rows}
    for cluster in decoded.clusters:
        assert cluster.centroid_f32 is not None
        assert len(cluster.centroid_f32) == 512 * 4
        assert cluster.label
        assert "quillfern" not in cluster.label.lower()
        for rep in cluster.representatives:
            assert texts[rep.id] == rep.text  # a real mention, quoted as it is


async def test_an_empty_range_is_an_empty_result(redis: Redis) -> None:
    result = await analyze(redis, [{"id": "only", "text": "Quillfern Arc arrived today"}])
    assert decode_result(encode(result)).mention_count == 1


async def test_the_semantic_extra_embeds_with_minilm(redis: Redis) -> None:
    rows = [json.loads(line) for line in THEMES.read_text().splitlines()]
    result = await analyze(redis, rows, AnalyzeHandler(embedding="semantic"))
    decoded = decode_result(encode(result))
    assert decoded.embedding_model == "orchestrator/all-MiniLM-L6-v2"
    assert decoded.clusters
    for cluster in decoded.clusters:
        assert cluster.centroid_f32 is not None
        assert len(cluster.centroid_f32) == 384 * 4
