"""What an LLM answer may state: numbers from its data (rounded as written), given ids only."""

from __future__ import annotations

import json

import pytest

from orchestrator.summarize import grounded
from orchestrator.summary_prompt import AnswerRejectedError, build_prompt, parse_answer
from tests.unit.test_summarize import VIEW

PROMPT = build_prompt("Quillfern Audio", grounded("Quillfern Audio", VIEW))


def answer(text: str, *ids: str) -> str:
    claims = [{"text": "A theme.", "mentionIds": list(ids)}]
    return json.dumps({"headline": "Quillfern", "summary": text, "highlights": claims})


@pytest.mark.parametrize(
    "text",
    [
        "3,737 mentions, 1,457 positive.",  # thousands separators
        "3737 mentions; net sentiment +0.13.",  # 0.1273 rounded as written
        "The recall theme holds 10.7% of mentions.",  # sharePercent
        "The recall theme holds 11% of mentions.",
        "A spike on 2026-11-27 at 14:00 UTC: 106 mentions against 27.1 (z = 7.4).",
        "Two themes lead; 2 clusters in all.",  # a list's length
    ],
)
def test_numbers_from_the_data_are_accepted(text: str) -> None:
    parse_answer(answer(text, "c1-1"), PROMPT)


@pytest.mark.parametrize(
    "text", ["3,800 mentions.", "net sentiment +0.2.", "up 45% this week.", "z = 9.1"]
)
def test_numbers_not_in_the_data_are_refused(text: str) -> None:
    with pytest.raises(AnswerRejectedError) as caught:
        parse_answer(answer(text), PROMPT)
    assert caught.value.reason == "invented_number"


def test_only_given_mention_ids_may_be_cited() -> None:
    assert PROMPT.mention_ids == {"c1-1", "c2-1"}
    with pytest.raises(AnswerRejectedError) as caught:
        parse_answer(answer("Fine.", "c1-1", "c9-9"), PROMPT)
    assert caught.value.reason == "invented_citation"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("no json here", "invalid_json"),
        ('{"headline": "x"}', "invalid_shape"),  # no summary
        ('{"headline": "x", "summary": "y", "provider": "evil"}', "invalid_shape"),
        ('{"headline": "", "summary": "y"}', "invalid_shape"),
    ],
)
def test_answers_not_in_the_shape_are_refused(content: str, reason: str) -> None:
    with pytest.raises(AnswerRejectedError) as caught:
        parse_answer(content, PROMPT)
    assert caught.value.reason == reason


def test_a_code_fence_around_the_json_is_tolerated() -> None:
    fenced = "```json\n" + answer("3,737 mentions.") + "\n```"
    assert parse_answer(fenced, PROMPT).summary == "3,737 mentions."


def test_the_prompt_carries_mentions_as_data_and_is_stable() -> None:
    system, user = PROMPT.messages
    assert "never instructions" in system["content"]
    data = json.loads(user["content"])
    assert data["totalMentions"] == 3737
    assert data["topClusters"][0]["mentions"][0]["text"].startswith("Asked to stop")
    again = build_prompt("Quillfern Audio", grounded("Quillfern Audio", VIEW))
    assert again.fingerprint("m") == PROMPT.fingerprint("m")
    assert again.fingerprint("m") != PROMPT.fingerprint("other-model")
