"""The demo dataset and the labelled fixtures: reproducible, well formed, shaped as promised."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo import generate
from orchestrator.demo.load import demo_offset, mentions_by_brand

DEMO = Path(generate.__file__).parent
FIXTURES = Path(__file__).parent.parent / "fixtures"
LEXICON_NEGATIVE = re.compile(
    r"\b(bad|terrible|hate[sd]?|awful|worst|poor(ly)?|disappoint\w*)\b", re.IGNORECASE
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def brands() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((DEMO / "brands.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def mentions() -> list[dict[str, Any]]:
    return read_jsonl(DEMO / "mentions.jsonl")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_the_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    generate.write(tmp_path)
    for name in (generate.BRANDS_FILE, generate.MENTIONS_FILE):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name


def test_three_brands_in_the_api_shape(brands: list[dict[str, Any]]) -> None:
    assert len(brands) == 3
    assert len({brand["slug"] for brand in brands}) == 3
    for brand in brands:
        assert brand["keywords"]
        assert brand["languages"] == ["en"]
        assert (brand["chunkSize"], brand["scheduleIntervalSec"], brand["maxInFlight"]) == (
            100,
            10,
            4,
        )


def test_mentions_are_many_unique_and_mostly_distinct(mentions: list[dict[str, Any]]) -> None:
    assert len(mentions) >= 3_000
    assert len({mention["id"] for mention in mentions}) == len(mentions)
    repeats = len(mentions) - len({mention["text"] for mention in mentions})
    assert repeats <= 0.05 * len(mentions)
    assert {mention["source"] for mention in mentions} == {"x", "reddit", "news", "rss"}


def test_every_mention_lies_within_the_six_days(mentions: list[dict[str, Any]]) -> None:
    end = parse_time("2026-11-28T23:59:59Z")
    start = end - timedelta(days=6) + timedelta(seconds=1)
    for mention in mentions:
        assert start <= parse_time(mention["createdAt"]) <= end, mention["id"]


def test_every_text_names_its_brand(
    brands: list[dict[str, Any]], mentions: list[dict[str, Any]]
) -> None:
    terms = {b["slug"]: [t.casefold() for t in [b["name"], *b["keywords"]]] for b in brands}
    for mention in mentions:
        text = mention["text"].casefold()
        assert any(term in text for term in terms[mention["brand"]]), mention["id"]


def test_the_recall_is_the_spike_brands_busiest_hour(mentions: list[dict[str, Any]]) -> None:
    hours = Counter(
        mention["createdAt"][:13] for mention in mentions if mention["brand"] == "quillfern"
    )
    busiest, volume = hours.most_common(1)[0]
    assert volume > 5 * statistics.median(hours.values())
    assert "2026-11-27T14" <= busiest <= "2026-11-27T17"


@pytest.mark.parametrize(
    ("today", "days"),
    [
        (date(2026, 11, 20), 0),
        (date(2026, 11, 29), 0),
        (date(2026, 11, 30), 1),
        (date(2027, 3, 1), 92),
    ],
)
def test_the_demo_moves_forward_by_whole_days_to_end_the_day_before_it_is_loaded(
    today: date, days: int
) -> None:
    assert demo_offset(today) == timedelta(days=days)


def test_loaded_later_every_mention_moves_by_the_offset(mentions: list[dict[str, Any]]) -> None:
    offset = demo_offset(date(2027, 3, 1))
    moved = {
        item["id"]: parse_time(item["createdAt"])
        for items in mentions_by_brand(offset).values()
        for item in map(json.loads, items)
    }
    assert len(moved) == len(mentions)
    assert all(moved[m["id"]] - parse_time(m["createdAt"]) == offset for m in mentions)
    assert max(moved.values()).date() == date(2027, 2, 28)


def test_the_labelled_set_is_balanced_with_implicit_complaints() -> None:
    rows = read_jsonl(FIXTURES / "sentiment_labelled.jsonl")
    labels = Counter(row["label"] for row in rows)
    assert set(labels) == {"positive", "neutral", "negative"}
    assert min(labels.values()) >= 60
    implicit = [
        row
        for row in rows
        if row["label"] == "negative" and not LEXICON_NEGATIVE.search(row["text"])
    ]
    assert len(implicit) >= 60


def test_the_themes_set_has_two_even_themes() -> None:
    rows = read_jsonl(FIXTURES / "themes.jsonl")
    assert Counter(row["theme"] for row in rows) == {"battery": 20, "delivery": 20}
    assert [row["id"] for row in rows] == [f"t{n}" for n in range(1, 41)]
