"""The chunk result: what an ``analyze`` worker reports for one chunk of a brand's mentions.

The original platform's camelCase format (DESIGN §4) is valid as it is; our workers add
per-mention sentiment and times, the embedding model's name, true cluster sizes and
representative mentions. Unknown fields are ignored. Decoding is strict and bounded: a payload
that is not JSON, has the wrong types, negative counts, non-finite numbers or oversized arrays
raises ``InvalidResultError`` with a reason naming the field, and is parked by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import simdjson

MAX_CLUSTERS = 1_000
MAX_TOPICS = 1_000
MAX_MENTIONS = 10_000  # per chunk: per-mention records and one cluster's mention ids
MAX_DIMENSION = 4_096
MAX_TEXT = 10_000

Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
# Bounds reject NaN (every comparison with it fails) and Infinity, which msgspec would accept.
Score = Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)]
COMPONENT_LIMIT = 1e6  # a centroid's components: finite and within ±this, in any form
Component = Annotated[float, msgspec.Meta(ge=-COMPONENT_LIMIT, le=COMPONENT_LIMIT)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Label = Literal["positive", "neutral", "negative"]


class InvalidResultError(ValueError):
    """A payload that is not a valid chunk result; ``reason`` names the field at fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sentiment(msgspec.Struct, frozen=True):
    positive: Count
    neutral: Count
    negative: Count
    score: Score = 0.0


class Representative(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """A mention that stands for its cluster (the most central one first)."""

    id: Name
    text: Text = ""
    url: Annotated[str, msgspec.Meta(max_length=2_048)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=64)] | None = None


# One cluster of a chunk. ``decode_result`` reads a centroid of JSON numbers into
# ``centroid_f32`` (``centroid`` is then None): every decoded centroid is float32. (No docstring:
# it would show in the published schema, docs/protocol.md.)
class ClusterIn(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: Name
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    mentions: Annotated[list[Name], msgspec.Meta(max_length=MAX_MENTIONS)] = []
    centroid: (
        Annotated[list[Component], msgspec.Meta(min_length=1, max_length=MAX_DIMENSION)] | None
    ) = None
    # The same as little-endian float32, base64 in JSON: a 20th of the decoding work.
    centroid_f32: (
        Annotated[bytes, msgspec.Meta(min_length=4, max_length=4 * MAX_DIMENSION)] | None
    ) = None
    sentiment_score: Score = 0.0
    spike: bool = False
    size: Count | None = None  # the true size when ``mentions`` is a sample
    representatives: Annotated[list[Representative], msgspec.Meta(max_length=3)] = []

    @property
    def true_size(self) -> int:
        return self.size if self.size is not None else len(self.mentions)

    @property
    def dimension(self) -> int | None:
        if self.centroid is not None:
            return len(self.centroid)
        if self.centroid_f32 is not None:
            return len(self.centroid_f32) // 4
        return None


class MentionOut(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One analysed mention: when it was written and how it reads."""

    id: Name
    created_at: datetime | None = None
    sentiment: Label | None = None
    score: Score | None = None


class Meta(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    mention_count: Count | None = None


class ChunkResult(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    chunk_id: Name
    brand: Name
    processed_at: datetime
    sentiment: Sentiment
    topics: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=MAX_TOPICS)
    ] = []
    clusters: Annotated[list[ClusterIn], msgspec.Meta(max_length=MAX_CLUSTERS)] = []
    summary: Text | None = None
    spike_detected: bool = False
    meta: Meta = Meta()
    mentions: Annotated[list[MentionOut], msgspec.Meta(max_length=MAX_MENTIONS)] = []
    embedding_model: Annotated[str, msgspec.Meta(max_length=200)] | None = None

    @property
    def mention_count(self) -> int:
        """``meta.mentionCount``, else the sum of the clusters' sizes (the original's rule)."""
        if self.meta.mention_count is not None:
            return self.meta.mention_count
        return sum(cluster.true_size for cluster in self.clusters)

    @property
    def model(self) -> str:
        """The embedding model's name: centroids are only compared within one model."""
        return self.embedding_model or "unnamed"


class _WireCluster(ClusterIn, frozen=True, kw_only=True):
    """A cluster as decoded: its JSON-number centroid left unread for ``_numbers``."""

    centroid: msgspec.Raw = msgspec.Raw(b"null")  # type: ignore[assignment]


class WireResult(ChunkResult, frozen=True, kw_only=True):
    """A chunk result as decoded, before ``read_wire`` (its clusters' centroids unread)."""

    clusters: Annotated[list[_WireCluster], msgspec.Meta(max_length=MAX_CLUSTERS)] = []  # type: ignore[assignment]


_decoder = msgspec.json.Decoder(WireResult)


def decode_result(raw: bytes | str) -> ChunkResult:
    """Decode and check one chunk result, or raise InvalidResultError naming what is wrong."""
    try:
        wire = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidResultError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidResultError(f"not JSON: {exc}") from None
    return read_wire(wire)


def read_wire(wire: WireResult) -> ChunkResult:
    """The result with its centroids read and checked (InvalidResultError if one is wrong)."""
    clusters = [_read_centroid(cluster, index) for index, cluster in enumerate(wire.clusters)]
    result = msgspec.structs.replace(wire, clusters=clusters)
    check_centroids(result)
    return result


def _read_centroid(cluster: _WireCluster, index: int) -> ClusterIn:
    """The cluster with its JSON-number centroid, if any, as float32 in ``centroid_f32``.

    simdjson reads the numbers straight into an array of doubles: a third of the work of
    making a Python float of each (msgspec) and an array of those."""
    text = bytes(cluster.centroid)
    if text == b"null":
        return msgspec.structs.replace(cluster, centroid=None)
    where = f"`$.clusters[{index}].centroid`"
    problem = "nested arrays or objects" if text.rfind(b"[") > 0 or b"{" in text else ""
    if not problem:  # (simdjson would read nested arrays as one)
        try:
            parsed = simdjson.Parser().parse(text)
            if not isinstance(parsed, simdjson.Array):
                raise TypeError("not an array")  # noqa: TRY301 - one message for every kind
            values = np.frombuffer(parsed.as_buffer(of_type="d"), np.float64)
        except (ValueError, TypeError) as exc:  # a number out of range, or not a number
            problem = str(exc)
    if problem:
        raise InvalidResultError(f"centroid must be an array of numbers ({problem}) - at {where}")
    if not 1 <= len(values) <= MAX_DIMENSION:
        raise InvalidResultError(
            f"centroid of {len(values)} numbers, expected 1 to {MAX_DIMENSION} - at {where}"
        )
    if not within_limit(values):
        raise InvalidResultError(
            f"centroid components must be within ±{COMPONENT_LIMIT:g} - at {where}"
        )
    return msgspec.structs.replace(
        cluster, centroid=None, centroid_f32=values.astype("<f4").tobytes()
    )


def within_limit(values: npt.NDArray[np.floating[Any]]) -> bool:
    """Every component finite and within ``COMPONENT_LIMIT`` (NaN compares False)."""
    return bool(
        np.maximum.reduce(values, axis=None) <= COMPONENT_LIMIT
        and np.minimum.reduce(values, axis=None) >= -COMPONENT_LIMIT
    )


def convert_result(value: object) -> ChunkResult:
    """Like ``decode_result`` for a value already parsed from JSON."""
    try:
        result = msgspec.convert(value, ChunkResult, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidResultError(str(exc)) from None
    check_centroids(result)
    return result


def check_centroids(result: ChunkResult) -> None:
    """Every centroid of one result has the same dimension; a float32 one whole floats."""
    dimension: int | None = None
    for index, cluster in enumerate(result.clusters):
        given = cluster.dimension
        if cluster.centroid_f32 is not None and len(cluster.centroid_f32) % 4:
            raise InvalidResultError(
                f"{len(cluster.centroid_f32)} bytes is not a whole number of float32"
                f" - at `$.clusters[{index}].centroidF32`"
            )
        if given is None:
            continue
        if dimension is None:
            dimension = given
        elif given != dimension:
            raise InvalidResultError(
                f"centroid of dimension {given}, expected {dimension}"
                f" - at `$.clusters[{index}].centroid`"
            )
