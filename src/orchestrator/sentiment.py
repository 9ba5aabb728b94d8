"""Sentiment of one mention, offline: VADER, and the complaints it cannot see.

VADER scores words it has in its lexicon; a complaint made of ordinary words ("keeps crashing",
"battery dying by noon", "still waiting on a refund") reads neutral or even positive to it.
``CUES`` are patterns of such complaints, written for this project and measured on the labelled
set in ``tests/fixtures/sentiment_labelled.jsonl`` (docs/analysis.md): when one matches and VADER
does not already find the text negative, the mention is negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["positive", "neutral", "negative"]

THRESHOLD = 0.05  # VADER's own: compound >= 0.05 positive, <= -0.05 negative
CUE_SCORE = -0.4  # the compound score given to a complaint VADER missed

_VERBS = r"(?:work|working|connect|connecting|pair|pairing|charge|charging|turn on|load|loading|open|sync|syncing|start|respond)"  # noqa: E501
CUES = (
    r"\bkeeps? (?:crashing|freezing|dropping|disconnecting|restarting|failing|breaking|cutting out|losing)",  # noqa: E501
    r"\b(?:stopped|stops|quit|quits) (?:working|charging|connecting|pairing|responding)",
    r"\b(?:won'?t|doesn'?t|does not|can'?t|cannot|didn'?t|did not|wouldn'?t|isn'?t|is not) "
    + _VERBS,
    r"\b(?:battery|charge) (?:dies|dying|died|drains?|draining|drained|gone)",
    r"\bdrains? (?:the |my )?battery",
    r"\bstill (?:waiting|no|not|nothing|broken)",
    r"\b(?:no|never got a|never got any) (?:reply|response|answer|refund|update|tracking)",
    r"\bnever (?:arrived|came|showed up|shipped|delivered|worked)",
    r"\b(?:refund|recall|recalled|overheat\w*|melt\w*|leak\w*|cracked|broke|broken|defect\w*|faulty|scam|rip-?off)\b",
    r"\bhad to (?:restart|reset|return|reboot|reinstall|send it back|call)",
    r"\b(?:returning|returned|sent) (?:it|them|mine) back",
    r"\b(?:late|delayed|missing|lost) (?:again|delivery|parcel|package|order)",
    r"\b(?:waste of|not worth|overpriced|too expensive|charged twice|double charged)",
    r"\b(?:\w+ )?(?:times|days|weeks|hours) (?:in a row|now|waiting|later and)",
    r"\bcancel(?:l?ed|l?ing) (?:my|the|our)",
    r"\bstop using\b|\bunsafe\b|\bdangerous\b",
)
_CUE = re.compile("|".join(f"(?:{cue})" for cue in CUES), re.IGNORECASE)


@dataclass(frozen=True)
class Scored:
    label: Label
    score: float  # -1..1


class SentimentModel:
    """VADER with the complaint cues; build once per process (the lexicon loads in ~0.1 s)."""

    name = "vader+cues"

    def __init__(self, *, cues: bool = True) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._cues = cues

    def score(self, text: str) -> Scored:
        compound = float(self._vader.polarity_scores(text)["compound"])
        if self._cues and compound > -THRESHOLD and _CUE.search(text):
            compound = min(compound, CUE_SCORE)
        return Scored(label_of(compound), compound)


def label_of(compound: float) -> Label:
    if compound >= THRESHOLD:
        return "positive"
    if compound <= -THRESHOLD:
        return "negative"
    return "neutral"
