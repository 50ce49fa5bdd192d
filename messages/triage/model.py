"""The second reader: a character n-gram linear model that knows no lexicon.

Trained by ``scripts/train_triage_model.py`` on a corpus written apart from the rules
(``tests/data/triage_corpus/``); shipped as one small gzip JSON file. Inference is ours
(the same ``features`` the trainer used, then one matrix product), so the bot needs
numpy but not scikit-learn, and a message costs tens of microseconds.

It answers one question for the engine: does this read like a red flag? It may raise
an answer (to urgent, to emergency, or to the checklist); the engine never lets it
lower one.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from messages.triage.engine import CHECK_LEVEL, Level
from messages.triage.matching import normalize
from schedules.errors import RulesError

if TYPE_CHECKING:
    import numpy as np

NGRAMS = (2, 5)  # character n-grams inside word boundaries, as scikit-learn's char_wb
DAY_BUCKETS = (0, 1, 2, 3, 6, 9, 15, 29)  # day 0, 1, 2, 3-5, 6-8, 9-14, 15-28, 29+
CLASSES = tuple(level.value for level in sorted(Level, reverse=True))  # emergency first


def day_bucket(days: int) -> str:
    bucket = max(b for b in DAY_BUCKETS if b <= max(0, days))
    return f"#day{bucket}"


def features(text: str, days: int) -> Counter[str]:
    """Counts of the message's character n-grams and words, and its day bucket."""
    grams: list[str] = [day_bucket(days)]
    low, high = NGRAMS
    for word in normalize(text).split():
        padded = f" {word} "
        grams.append(f"w:{word.strip('.,!?;:()')}")
        for size in range(low, high + 1):
            grams.extend(padded[i : i + size] for i in range(max(1, len(padded) - size + 1)))
    return Counter(grams)


@dataclass(frozen=True)
class Thresholds:
    """Probabilities at which the model raises an answer (chosen on the development set)."""

    emergency: float  # P(emergency) at or above: emergency
    red_flag: float  # P(urgent) + P(emergency) at or above: urgent
    checklist: float  # P(urgent) + P(emergency) at or above: ask the checklist


class NgramModel:
    """A multinomial logistic regression over sublinear tf-idf features."""

    def __init__(
        self,
        vocabulary: dict[str, int],
        idf: np.ndarray,
        coef: np.ndarray,  # (features, classes)
        intercept: np.ndarray,
        thresholds: Thresholds,
    ) -> None:
        self._vocabulary = vocabulary
        self._idf = idf
        self._coef = coef
        self._intercept = intercept
        self.thresholds = thresholds

    def probabilities(self, text: str, days: int) -> dict[str, float]:
        import numpy as np  # here, not at the top: loaded with the model, not with every command

        vocabulary = self._vocabulary
        known = [(vocabulary[g], n) for g, n in features(text, days).items() if g in vocabulary]
        scores = self._intercept.copy()
        if known:
            index = np.fromiter((column for column, _ in known), dtype=np.intp, count=len(known))
            tf = np.fromiter((n for _, n in known), dtype=np.float64, count=len(known))
            values = (1.0 + np.log(tf)) * self._idf[index]
            values /= math.sqrt(float(values @ values))
            scores += values @ self._coef[index]
        exp = np.exp(scores - scores.max())
        probs = exp / exp.sum()
        return dict(zip(CLASSES, (float(p) for p in probs), strict=True))

    def red_flag(self, text: str, days: int) -> Level | None:
        probs = self.probabilities(text, days)
        red = probs["emergency"] + probs["urgent"]
        if probs["emergency"] >= self.thresholds.emergency:
            return Level.EMERGENCY
        if red >= self.thresholds.red_flag:
            return Level.URGENT
        if red >= self.thresholds.checklist:
            return CHECK_LEVEL
        return None

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self._vocabulary, key=self._vocabulary.__getitem__)
        return {
            "format": 1,
            "classes": list(CLASSES),
            "ngrams": list(NGRAMS),
            "vocabulary": ordered,
            "idf": [round(float(x), 5) for x in self._idf],
            "coef": [[round(float(x), 5) for x in row] for row in self._coef],
            "intercept": [round(float(x), 5) for x in self._intercept],
            "thresholds": self.thresholds.__dict__,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "model") -> NgramModel:
        import numpy as np  # here, not at the top: loaded with the model, not with every command

        try:
            if data["format"] != 1 or tuple(data["classes"]) != CLASSES:
                raise RulesError(f"{source}: unknown model format or classes")
            if tuple(data["ngrams"]) != NGRAMS:
                raise RulesError(f"{source}: trained with other n-grams than this code reads")
            words: list[str] = data["vocabulary"]
            coef = np.asarray(data["coef"], dtype=np.float64)
            idf = np.asarray(data["idf"], dtype=np.float64)
            if coef.shape != (len(words), len(CLASSES)) or idf.shape != (len(words),):
                raise RulesError(f"{source}: the model's arrays do not fit its vocabulary")
            return cls(
                {word: i for i, word in enumerate(words)},
                idf,
                coef,
                np.asarray(data["intercept"], dtype=np.float64),
                Thresholds(**data["thresholds"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RulesError(f"{source}: not a triage model ({error})") from error


class ShippedModel:
    """The bundled model as a second reader, decoded on its first message: most processes
    (CLI commands, a daemon that is never written to) never pay for numpy or the file."""

    def red_flag(self, text: str, days: int) -> Level | None:
        return _shipped().red_flag(text, days)


def load_model(path: str | os.PathLike[str] | None = None) -> NgramModel:
    """The shipped model (or ``path``); read once, kept by the caller."""
    if path is None:
        return _shipped()
    return _read(path)


@cache
def _shipped() -> NgramModel:
    """The bundled model, decoded once per process (it is never changed after loading;
    every daemon a test starts shares it)."""
    return _read(None)


def _read(path: str | os.PathLike[str] | None) -> NgramModel:
    if path is None:
        file = resources.files("messages").joinpath("triage", "model.json.gz")
        raw, source = file.read_bytes(), "model.json.gz"
    else:
        source = os.fspath(path)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as error:
            raise RulesError(f"{source}: cannot read the model: {error}") from error
    try:
        data = json.loads(gzip.decompress(raw))
    except (OSError, ValueError) as error:
        raise RulesError(f"{source}: not a gzip JSON model ({error})") from error
    return NgramModel.from_json(data, source)
