from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.brand import BrandCreate, BrandSpec, legacy_brand, merge_patch, now, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Nike", "nike"),
        ("Nike Running!", "nike-running"),
        ("  Crème Brûlée & Co. ", "creme-brulee-co"),
        ("AT&T", "at-t"),
        ("東京", ""),
        ("x" * 80, "x" * 64),
        ("a-" * 40, ("a-" * 32).rstrip("-")),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # the examples of RFC 7396, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def _errors(document: dict[str, Any]) -> set[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        BrandCreate.model_validate(document)
    return {tuple(error["loc"]) for error in caught.value.errors()}


VALID = {"name": "Nike", "keywords": ["nike"]}


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"slug": "Nike"}, ("slug",)),
        ({"slug": "n" * 65}, ("slug",)),
        ({"slug": ""}, ("slug",)),
        ({"name": ""}, ("name",)),
        ({"name": "n" * 201}, ("name",)),
        ({"keywords": []}, ("keywords",)),
        ({"keywords": [f"k{i}" for i in range(101)]}, ("keywords",)),
        ({"keywords": ["ok", "k" * 129]}, ("keywords", 1)),
        ({"keywords": ["ok", "  "]}, ("keywords", 1)),
        ({"excludeKeywords": [""]}, ("excludeKeywords", 0)),
        ({"languages": ["en", "english"]}, ("languages", 1)),
        ({"sources": [{"type": "ftp", "url": "ftp://x"}]}, ("sources", 0)),
        ({"sources": [{"type": "rss"}]}, ("sources", 0, "rss", "url")),
        ({"sources": [{"type": "rss", "url": "not a url"}]}, ("sources", 0, "rss", "url")),
        ({"sources": [{"type": "file", "url": "https://x"}]}, ("sources", 0, "file", "url")),
        ({"sources": [{"type": "json", "url": "https://x.example", "options": {"bogus": 1}}]},
         ("sources", 0, "json", "options", "bogus")),
        ({"scheduleIntervalSec": 9}, ("scheduleIntervalSec",)),
        ({"chunkSize": 0}, ("chunkSize",)),
        ({"chunkSize": 5001}, ("chunkSize",)),
        ({"maxInFlight": 65}, ("maxInFlight",)),
        ({"status": "deleted"}, ("status",)),
        ({"version": 3}, ("version",)),
        ({"unknown": True}, ("unknown",)),
    ],
)  # fmt: skip
def test_every_rule_names_its_field(
    change: dict[str, Any], location: tuple[str | int, ...]
) -> None:
    assert location in _errors({**VALID, **change})


def test_defaults_and_normalisation() -> None:
    spec = BrandCreate.model_validate(
        {
            "name": "Nike Running",
            "keywords": [" Nike ", "nike", "Air Max"],
            "languages": ["EN", "en"],
        }
    )
    assert spec.slug == "nike-running"
    assert spec.keywords == ["Nike", "Air Max"]
    assert spec.languages == ["en"]
    assert (spec.schedule_interval_sec, spec.chunk_size, spec.max_in_flight) == (300, 200, 4)
    assert spec.status == "active"


def test_a_name_without_letters_needs_a_slug() -> None:
    with pytest.raises(ValidationError, match="give a slug"):
        BrandCreate.model_validate({"name": "東京", "keywords": ["tokyo"]})
    assert BrandCreate.model_validate({"name": "東京", "slug": "tokyo", "keywords": ["x"]}).slug


def test_a_legacy_brand_gets_defaults_and_its_slug_as_keyword() -> None:
    brand = legacy_brand("adidas", now())
    assert (brand.name, brand.keywords, brand.version) == ("adidas", ["adidas"], 1)
    assert BrandSpec.model_validate(brand.spec_document()).status == "active"
