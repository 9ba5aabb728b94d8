"""The chunk result format: the original's is valid; every kind of invalid payload is refused
with a reason naming the field."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from orchestrator.chunk_result import InvalidResultError, decode_result

ORIGINAL = {
    "chunkId": "nike-1",
    "brand": "nike",
    "processedAt": "2025-01-01T00:00:00Z",
    "sentiment": {"positive": 5, "neutral": 2, "negative": 1, "score": 4},
    "topics": ["launch"],
    "clusters": [
        {
            "id": "launch-positive",
            "label": "Launch Buzz",
            "mentions": ["m1", "m2"],
            "centroid": [0.1, 0.3],
            "sentimentScore": 0.8,
            "spike": True,
        }
    ],
    "summary": "optional chunk-level text",
    "spikeDetected": False,
    "meta": {"mentionCount": 3},
}


def _with(**changes: Any) -> bytes:
    return json.dumps({**ORIGINAL, **changes}).encode()


def test_the_original_format_is_a_valid_result() -> None:
    result = decode_result(json.dumps(ORIGINAL).encode())
    assert result.chunk_id == "nike-1"
    assert result.sentiment.positive == 5
    cluster = result.clusters[0]  # JSON numbers read as float32
    assert (cluster.centroid, cluster.centroid_f32) == (None, struct.pack("<2f", 0.1, 0.3))
    assert result.mention_count == 3


def test_centroid_is_optional_and_unknown_fields_are_ignored() -> None:
    cluster = {"id": "c", "mentions": ["m1"], "extra": {"anything": 1}}
    result = decode_result(_with(clusters=[cluster], workerVersion="9.9", meta={}))
    assert result.clusters[0].dimension is None
    assert result.mention_count == 1  # no meta.mentionCount: the clusters' sizes


def test_mention_count_falls_back_to_true_cluster_sizes() -> None:
    clusters = [{"id": "a", "mentions": ["m1"], "size": 40}, {"id": "b", "mentions": ["m2", "m3"]}]
    assert decode_result(_with(clusters=clusters, meta={})).mention_count == 42


# JSON has no Infinity; a number too large for a double decodes to one.
INFINITE_SCORE = _with(sentiment={"positive": 1, "neutral": 0, "negative": 0, "score": 7}).replace(
    b"7", b"1e999"
)
INFINITE_CENTROID = _with(clusters=[{"id": "c", "centroid": [7, 0.0]}]).replace(b"[7", b"[-1e400")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "Expected `object`"),
        (_with(sentiment={"positive": "5", "neutral": 2, "negative": 1}), "$.sentiment.positive"),
        (_with(sentiment={"positive": -1, "neutral": 2, "negative": 1}), "$.sentiment.positive"),
        (_with(meta={"mentionCount": -3}), "$.meta.mentionCount"),
        (INFINITE_SCORE, "$.sentiment.score"),
        (INFINITE_CENTROID, "$.clusters[0].centroid"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, 2e6]}]), "within ±1e+06"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, "2"]}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, True]}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, None]}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, [2.0]]}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": [1.0, {"x": 2}]}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": {"x": 2}}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": 7}]), "array of numbers"),
        (_with(clusters=[{"id": "c", "centroid": []}]), "expected 1 to 4096"),
        (_with(topics=["t"] * 1001), "$.topics"),
        (_with(clusters=[{"id": "c", "mentions": ["m"] * 10_001}]), "$.clusters[0].mentions"),
        (_with(clusters=[{"id": "c", "centroid": [0.5] * 5000}]), "$.clusters[0].centroid"),
        (_with(chunkId=""), "$.chunkId"),
        (_with(clusters=[{"id": "c", "centroidF32": "AAAAAAAAAA=="}]), "number of float32"),
        (_with(clusters=[{"id": "c", "centroidF32": "not base64!"}]), "$.clusters[0].centroidF32"),
        (_with(processedAt="yesterday"), "$.processedAt"),
        (
            _with(clusters=[{"id": "a", "centroid": [1.0, 0.0]}, {"id": "b", "centroid": [1.0]}]),
            "dimension 1, expected 2",
        ),
    ],
    ids=[
        "not-json", "not-object", "wrong-type", "negative-count", "negative-mention-count",
        "infinite-score", "infinite-centroid", "out-of-range-component", "string-component",
        "boolean-component", "null-component", "nested-array", "object-component",
        "object-centroid", "number-centroid", "empty-centroid", "too-many-topics",
        "oversized-mentions", "oversized-centroid", "empty-chunk-id", "partial-float32",
        "not-base64", "bad-time", "mixed-dimensions",
    ],
)  # fmt: skip
def test_invalid_payloads_are_refused_with_the_field(payload: bytes, expected: str) -> None:
    with pytest.raises(InvalidResultError) as caught:
        decode_result(payload)
    assert expected in caught.value.reason


def test_nan_is_refused() -> None:
    payload = _with(sentiment={"positive": 1, "neutral": 0, "negative": 0, "score": 0})
    with pytest.raises(InvalidResultError):
        decode_result(payload.replace(b'"score": 0', b'"score": NaN'))
