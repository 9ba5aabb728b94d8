"""The numpy all-MiniLM-L6-v2 against sentence-transformers' own vectors (needs the extra)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from orchestrator import semantic
from orchestrator.semantic import SemanticEmbedder, erf, load_semantic

REFERENCE = Path(__file__).parent.parent / "fixtures" / "minilm_reference.json"
TEXTS = [
    "my headphones battery dies quickly",
    "the earbuds don't hold a charge",
    "the courier delivered my parcel late",
    "",
    "Café crème at the Mill Street shop, ready in two minutes! 😀 #morning",
    " ".join(["the delivery van came back again with another wrong package"] * 40),  # > 256 tokens
]


@pytest.fixture(scope="module")
def embedder() -> SemanticEmbedder:
    return load_semantic()


def test_unit_rows_of_384_float32(embedder: SemanticEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) == (len(TEXTS), embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.name == "orchestrator/all-MiniLM-L6-v2"


def test_no_texts_no_rows(embedder: SemanticEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_two_embedders_give_identical_vectors(embedder: SemanticEmbedder) -> None:
    again = SemanticEmbedder()
    assert np.array_equal(embedder.embed(TEXTS), again.embed(TEXTS))


def test_padding_does_not_change_a_text(embedder: SemanticEmbedder) -> None:
    together = embedder.embed(TEXTS)
    alone = np.vstack([embedder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_matches_sentence_transformers(embedder: SemanticEmbedder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.asarray(reference["embeddings"], dtype=np.float64)
    got = embedder.embed(reference["sentences"]).astype(np.float64)
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert expected.shape == (5, 384)
    assert cosine.min() >= 0.999, cosine


def test_similar_complaints_are_closer_than_unrelated_ones(embedder: SemanticEmbedder) -> None:
    battery, earbuds, courier = embedder.embed(TEXTS[:3])
    assert float(battery @ earbuds) > float(battery @ courier) + 0.2


def test_erf_is_within_float32_noise_of_the_exact_one() -> None:
    grid = np.linspace(-8.0, 8.0, 16_001, dtype=np.float32)
    exact = np.array([math.erf(float(x)) for x in grid])
    assert erf(grid).dtype == np.float32
    assert np.abs(erf(grid) - exact).max() < 1e-6


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "_REQUIRED", {"tokenizers": "tokenizers", "no_such_mod": "x"})
    with pytest.raises(ImportError, match=r"pip install 'service3-orchestrator\[semantic\]'"):
        load_semantic()
