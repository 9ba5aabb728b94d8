"""Sentiment of mentions, offline: VADER, and a small classifier for what VADER cannot see.

VADER scores words it has in its lexicon; a complaint made of ordinary words ("keeps crashing",
"battery dying by noon", "still waiting on a refund") reads neutral or even positive to it, and
a praise that names a problem ("replaced the faulty charger without fuss") reads negative. The
classifier is a logistic regression over hashed word n-grams, VADER's four scores and a few
complaint cues, trained when a worker starts (about a second) on the labelled set written for
this project (``orchestrator/data/sentiment_train.jsonl``). Measured on a separate labelled
set (``tests/fixtures/sentiment_labelled.jsonl``): docs/analysis.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["positive", "neutral", "negative"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")

THRESHOLD = 0.05  # VADER's own: compound >= 0.05 positive, <= -0.05 negative

_VERBS = r"(?:work|working|connect|connecting|pair|pairing|charge|charging|turn on|load|loading|open|sync|syncing|start|respond)"  # noqa: E501
CUES = (
    r"\bkeeps? (?:crashing|freezing|dropping|disconnecting|restarting|failing|breaking|cutting out|losing)",  # noqa: E501
    r"\b(?:stopped|stops|quit|quits) (?:working|charging|connecting|pairing|responding)",
    r"\b(?:won'?t|doesn'?t|does not|can'?t|cannot|didn'?t|did not|wouldn'?t|isn'?t|is not) "
    + _VERBS,
    r"\b(?:battery|charge) (?:dies|dying|died|drains?|draining|drained|gone)",
    r"\bstill (?:waiting|no|not|nothing|broken)",
    r"\b(?:no|never got a|never got any) (?:reply|response|answer|refund|update|tracking)",
    r"\bnever (?:arrived|came|showed up|shipped|delivered|worked)",
    r"\b(?:recall|recalled|overheat\w*|melt\w*|leak\w*|defect\w*|scam|rip-?off)\b",
    r"\bhad to (?:restart|reset|return|reboot|reinstall|send it back|call)",
    r"\b(?:late|delayed|missing|lost) (?:again|delivery|parcel|package|order)",
    r"\b(?:waste of|not worth|overpriced|charged twice|double charged)",
    r"\bcancel(?:l?ed|l?ing) (?:my|the|our)",
    r"\bstop using\b|\bunsafe\b|\bdangerous\b",
)
_CUE = re.compile("|".join(f"(?:{cue})" for cue in CUES), re.IGNORECASE)
_TRAINING = "sentiment_train.jsonl"


@dataclass(frozen=True)
class Scored:
    label: Label
    score: float  # -1..1: P(positive) - P(negative), or VADER's compound


def label_of(compound: float) -> Label:
    if compound >= THRESHOLD:
        return "positive"
    if compound <= -THRESHOLD:
        return "negative"
    return "neutral"


class SentimentModel:
    """Build once per process; ``trained=False`` is plain VADER (the baseline it is measured
    against)."""

    def __init__(self, *, trained: bool = True) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._words = HashingVectorizer(
            n_features=2**14, ngram_range=(1, 2), alternate_sign=False, norm="l2"
        )
        self._classifier: LogisticRegression | None = None
        if trained:
            texts, labels = training_set()
            self._classifier = LogisticRegression(C=4.0, max_iter=2000)
            self._classifier.fit(self._features(texts), labels)

    @property
    def name(self) -> str:
        return "vader+classifier" if self._classifier is not None else "vader"

    def score(self, text: str) -> Scored:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str]) -> list[Scored]:
        if not texts:
            return []
        if self._classifier is None:
            return [Scored(label_of(c), c) for c in self._compounds(texts)]
        probabilities = self._classifier.predict_proba(self._features(texts))
        order = [list(self._classifier.classes_).index(label) for label in LABELS]
        scored = []
        for row in probabilities[:, order]:
            label = LABELS[int(np.argmax(row))]
            scored.append(Scored(label, round(float(row[2] - row[0]), 4)))
        return scored

    def _compounds(self, texts: Sequence[str]) -> list[float]:
        return [float(self._vader.polarity_scores(text)["compound"]) for text in texts]

    def _features(self, texts: Sequence[str]) -> csr_matrix:
        lexicon = np.array([self._lexicon(text) for text in texts])
        return cast(csr_matrix, hstack([self._words.transform(texts), csr_matrix(lexicon)]).tocsr())

    def _lexicon(self, text: str) -> list[float]:
        scores = self._vader.polarity_scores(text)
        cue = 1.0 if _CUE.search(text) else 0.0
        return [
            scores["neg"] * 2,
            scores["neu"],
            scores["pos"] * 2,
            scores["compound"] * 2,
            cue * 2,
        ]


def training_set() -> tuple[list[str], npt.NDArray[np.str_]]:
    raw = (resources.files("orchestrator.data") / _TRAINING).read_text()
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return [row["text"] for row in rows], np.array([row["label"] for row in rows])
