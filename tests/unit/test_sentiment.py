"""Sentiment measured on the labelled set written for the tests (never trained on)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.sentiment import SentimentModel, training_set

LABELLED = Path(__file__).parent.parent / "fixtures" / "sentiment_labelled.jsonl"


def agreement(model: SentimentModel) -> float:
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    scored = model.score_many([row["text"] for row in rows])
    agreed = sum(int(s.label == row["label"]) for s, row in zip(scored, rows, strict=True))
    return agreed / len(rows)


@pytest.fixture(scope="module")
def trained() -> SentimentModel:
    return SentimentModel()


def test_the_model_agrees_with_the_labels_on_four_in_five(trained: SentimentModel) -> None:
    assert agreement(trained) >= 0.80


def test_the_model_beats_plain_vader(trained: SentimentModel) -> None:
    assert agreement(trained) > agreement(SentimentModel(trained=False))


def test_the_test_set_is_not_in_the_training_set() -> None:
    texts, _ = training_set()
    known = {text.casefold() for text in texts}
    labelled = [json.loads(line)["text"] for line in LABELLED.read_text().splitlines() if line]
    assert not [text for text in labelled if text.casefold() in known]


def test_complaints_without_negative_words_read_negative(trained: SentimentModel) -> None:
    """The complaints VADER misses: no lexicon word, still a complaint."""
    lexicon = re.compile(r"\b(bad|terrible|hate|awful|worst|poor|disappointed)\b", re.IGNORECASE)
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    plain = [r["text"] for r in rows if r["label"] == "negative" and not lexicon.search(r["text"])]
    assert len(plain) >= 60

    def negative(model: SentimentModel) -> float:
        return sum(s.label == "negative" for s in model.score_many(plain)) / len(plain)

    assert negative(trained) >= 0.75
    assert negative(SentimentModel(trained=False)) < 0.5  # what VADER alone makes of them
