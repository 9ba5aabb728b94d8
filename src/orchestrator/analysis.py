"""Analysis of one chunk of a brand's mentions into a chunk result (pure, no I/O).

Per mention: its sentiment (``sentiment.SentimentModel``). Over the chunk: lexical embeddings
(hashed TF-IDF of word unigrams and bigrams, 512 dimensions, the same in every process: the
centroids the collector compares across chunks), the brand's own names stripped first (they are
in every mention and would make everything alike); clusters by average-linkage agglomerative
clustering on cosine distance in the chunk's own LSA space; each cluster's label from its top
TF-IDF terms, its mean sentiment, its centroid and its most central mentions;
topics from the chunk's top terms; a spike flag when one cluster holds most of a large chunk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from orchestrator.mentions import Mention
from orchestrator.sentiment import Scored, SentimentModel

if TYPE_CHECKING:
    from orchestrator.semantic import SemanticEmbedder

MODEL = "orchestrator/hashed-tfidf-512"
DIMENSION = 512
DISTANCE = 0.7  # cosine distance (in the chunk's LSA space) under which clusters join
LSA_COMPONENTS = 10
MIN_SHARE = 0.02  # a cluster needs this share of the chunk (and two mentions) to be reported
MAX_CLUSTERS = 12
SPIKE_SHARE = 0.5  # one cluster holding this share of a chunk of at least SPIKE_MIN mentions
SPIKE_MIN = 40
MAX_IDS = 200  # mention ids listed per cluster (its size counts them all)
_HANDLE = re.compile(r"[@#]\w+|https?://\S+")


@dataclass(frozen=True)
class BrandTerms:
    """What is stripped before embedding and never used as a label or topic."""

    names: tuple[str, ...]  # the brand's name, slug and keywords

    def pattern(self) -> re.Pattern[str]:
        words = sorted(
            {w for name in self.names for w in re.findall(r"\w+", name.lower())},
            key=len,
            reverse=True,
        )
        return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)

    def stop_words(self) -> list[str]:
        words = {w for name in self.names for w in re.findall(r"\w+", name.lower())}
        return sorted(ENGLISH_STOP_WORDS | words)


class Analyzer:
    """Build once per worker process (loads VADER's lexicon); ``analyze`` is pure."""

    def __init__(
        self, sentiment: SentimentModel | None = None, semantic: SemanticEmbedder | None = None
    ) -> None:
        # Small matrices, one worker process per core: BLAS threads would only contend.
        threadpool_limits(limits=1, user_api="blas")
        self.sentiment = sentiment or SentimentModel()
        self.semantic = semantic  # all-MiniLM-L6-v2 (the ``semantic`` extra); else lexical
        self.model = semantic.name if semantic is not None else MODEL
        self._hashing = HashingVectorizer(
            n_features=DIMENSION,
            ngram_range=(1, 2),
            stop_words="english",
            alternate_sign=True,
            norm=None,
        )

    def analyze(
        self, chunk_id: str, brand: str, terms: BrandTerms, mentions: Sequence[Mention]
    ) -> dict[str, Any]:
        """The chunk result (DESIGN §4 plus our fields) of ``mentions``."""
        scored = self.sentiment.score_many([m.text for m in mentions])
        cleaned = _clean([m.text for m in mentions], terms)
        clusters, topics = self._clusters(chunk_id, mentions, scored, cleaned, terms)
        counts = {
            label: sum(s.label == label for s in scored)
            for label in ("positive", "neutral", "negative")
        }
        return {
            "chunkId": chunk_id,
            "brand": brand,
            "processedAt": datetime.now(UTC).isoformat(),
            "sentiment": {**counts, "score": round(sum(s.score for s in scored), 4)},
            "topics": topics,
            "clusters": clusters,
            "spikeDetected": any(c["spike"] for c in clusters),
            "meta": {"mentionCount": len(mentions)},
            "mentions": [
                {
                    "id": m.id,
                    "createdAt": m.created_at.isoformat() if m.created_at else None,
                    "sentiment": s.label,
                    "score": round(s.score, 4),
                }
                for m, s in zip(mentions, scored, strict=True)
            ],
            "embeddingModel": self.model,
        }

    def embed(self, cleaned: Sequence[str]) -> npt.NDArray[np.float64]:
        """Unit vectors: the semantic model's, or hashed TF-IDF (the IDF from the chunk)."""
        if self.semantic is not None:
            return self.semantic.embed(cleaned).astype(np.float64)
        counts = self._hashing.transform(cleaned)
        present = np.asarray((counts != 0).sum(axis=0)).ravel()
        idf = np.log((1 + len(cleaned)) / (1 + present)) + 1.0
        dense: npt.NDArray[np.float64] = normalize(counts.multiply(idf).tocsr()).toarray()
        return dense

    def _clusters(
        self,
        chunk_id: str,
        mentions: Sequence[Mention],
        scored: Sequence[Scored],
        cleaned: Sequence[str],
        terms: BrandTerms,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        if len(mentions) < 2:
            return [], []
        vectors = self.embed(cleaned)
        words = _TermWeights(cleaned, terms)
        labels = _group(words.topics_space())
        minimum = max(2, int(MIN_SHARE * len(mentions)))
        found = [np.flatnonzero(labels == label) for label in np.unique(labels)]
        kept = sorted(
            (members for members in found if len(members) >= minimum), key=len, reverse=True
        )
        chunk = _Scored(mentions, scored, vectors)
        clusters = [
            chunk.cluster(f"{chunk_id}-c{i + 1}", members, words.top(members, 3))
            for i, members in enumerate(kept[:MAX_CLUSTERS])
        ]
        return clusters, words.top(np.arange(len(mentions)), 5)


def _clean(texts: Sequence[str], terms: BrandTerms) -> list[str]:
    brand = terms.pattern()
    return [brand.sub(" ", _HANDLE.sub(" ", text)) for text in texts]


def _group(vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Average-linkage clusters of ``vectors`` (unit rows) under the cosine distance."""
    empty = ~vectors.any(axis=1)
    if empty.all():
        return np.zeros(len(vectors), dtype=np.int64)
    vectors = vectors.copy()
    vectors[empty, 0] = 1.0  # texts with no words left: one cluster of their own
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=DISTANCE
    )
    labels: npt.NDArray[np.int64] = model.fit_predict(vectors)
    return labels


class _TermWeights:
    """TF-IDF weights of the chunk's words (with their names, unlike hashed features)."""

    def __init__(self, cleaned: Sequence[str], terms: BrandTerms) -> None:
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2),
            stop_words=terms.stop_words(),
            min_df=1,
            sublinear_tf=True,
            token_pattern=r"(?u)\b[^\W\d_]{3,}\b",  # noqa: S106 - a regex, not a secret
        )
        try:
            self.matrix = vectorizer.fit_transform(cleaned)
            self.names = vectorizer.get_feature_names_out()
        except ValueError:  # nothing but stop words
            self.matrix, self.names = None, np.array([])

    def topics_space(self) -> npt.NDArray[np.float64]:
        """The chunk's mentions in a few latent dimensions of its own words (LSA): short texts
        share few words, so raw TF-IDF vectors are nearly orthogonal; here texts about the same
        thing are close. Chunk-local: for clustering the chunk, not for comparing chunks."""
        rows = 0 if self.matrix is None else self.matrix.shape[0]
        if self.matrix is None or min(self.matrix.shape) < 3:
            return np.ones((rows, 1))
        components = max(2, min(LSA_COMPONENTS, rows // 8, self.matrix.shape[1] - 1))
        reduced = TruncatedSVD(n_components=components, random_state=0).fit_transform(self.matrix)
        space: npt.NDArray[np.float64] = normalize(reduced)
        return space

    def top(self, members: npt.NDArray[np.int64], count: int) -> list[str]:
        if self.matrix is None:
            return []
        weights = np.asarray(self.matrix[members].sum(axis=0)).ravel()
        candidates = min(len(weights), 8 * count)  # enough to skip overlapping n-grams
        if not candidates:
            return []
        best = np.argpartition(-weights, candidates - 1)[:candidates].tolist()
        order = sorted(best, key=lambda i: (-weights[i], i))
        chosen: list[str] = []
        for index in order:
            name = str(self.names[index])
            if weights[index] <= 0 or len(chosen) == count:
                break
            if not any(name in other or other in name for other in chosen):
                chosen.append(name)
        return chosen


@dataclass(frozen=True)
class _Scored:
    """A chunk's mentions with their sentiment and embeddings."""

    mentions: Sequence[Mention]
    scored: Sequence[Scored]
    vectors: npt.NDArray[np.float64]

    def cluster(
        self, cluster_id: str, members: npt.NDArray[np.int64], label: list[str]
    ) -> dict[str, Any]:
        vectors = self.vectors[members]
        centroid = vectors.mean(axis=0)
        central = members[np.argsort(-(vectors @ centroid), kind="stable")]
        share = len(members) / len(self.mentions)
        return {
            "id": cluster_id,
            "label": " / ".join(label) or "other",
            "mentions": [self.mentions[i].id for i in members[:MAX_IDS]],
            "size": len(members),
            "centroidF32": centroid.astype("<f4").tobytes(),
            "sentimentScore": round(float(np.mean([self.scored[i].score for i in members])), 4),
            "spike": share >= SPIKE_SHARE and len(self.mentions) >= SPIKE_MIN,
            "representatives": [_representative(self.mentions[i]) for i in central[:3]],
        }


def _representative(mention: Mention) -> dict[str, Any]:
    found = {
        "id": mention.id,
        "text": mention.text[:500],
        "url": mention.url,
        "source": mention.source,
    }
    return {key: value for key, value in found.items() if value is not None}
