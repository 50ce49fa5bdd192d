"""Train the triage model (the engine's second reader) and choose its thresholds.

Reproducible: the same corpus gives the same file, byte for byte. The corpus
(``tests/data/triage_corpus/``, 3 600 messages in en/es/de/ru) was written by helpers who
read only the clinical labelling guide, never ``rules.yaml``. Thresholds are chosen on the
development set (``tests/data/triage_dev.jsonl``), never on the final blind set.

    .venv/bin/python scripts/train_triage_model.py            # write the model
    .venv/bin/python scripts/train_triage_model.py --check    # exit 1 if the shipped one differs
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cache
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from messages.triage import Level, TriageRules, load_rules, triage  # noqa: E402
from messages.triage.evaluation import Scorecard, Scored  # noqa: E402
from messages.triage.model import CLASSES, NgramModel, Thresholds, features  # noqa: E402

CORPUS = REPO_ROOT / "tests" / "data" / "triage_corpus"
DEV = REPO_ROOT / "tests" / "data" / "triage_dev.jsonl"
OUT = REPO_ROOT / "messages" / "triage" / "model.json.gz"
MIN_DF = 2  # an n-gram seen once teaches nothing but noise
MAX_FEATURES = 60_000
C = 8.0  # inverse regularisation; chosen on the development set
MAX_OVER_ESCALATION = 0.08  # over-escalated by two levels or more, on the development set


def labelled(paths: Iterable[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def train(rows: Sequence[dict[str, Any]], c: float = C) -> tuple[NgramModel, LogisticRegression]:
    """Fit the model on ``rows``; returns ours and scikit-learn's (for the parity test)."""
    counted = [features(row["text"], row["days"]) for row in rows]
    df: dict[str, int] = {}
    for counts in counted:
        for gram in counts:
            df[gram] = df.get(gram, 0) + 1
    kept = sorted((g for g, n in df.items() if n >= MIN_DF), key=lambda g: (-df[g], g))
    vocabulary = {gram: i for i, gram in enumerate(sorted(kept[:MAX_FEATURES]))}
    n = len(rows)
    idf = np.array([math.log((1 + n) / (1 + df[g])) + 1 for g in sorted(vocabulary)])
    matrix = _matrix(counted, vocabulary, idf)
    labels = np.array([CLASSES.index(row["level"]) for row in rows])
    fitted = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    fitted.fit(matrix, labels)
    coef = np.zeros((len(vocabulary), len(CLASSES)))
    intercept = np.full(len(CLASSES), -1e9)
    for column, label in enumerate(fitted.classes_):
        coef[:, label] = fitted.coef_[column]
        intercept[label] = fitted.intercept_[column]
    model = NgramModel(vocabulary, idf, coef, intercept, Thresholds(1.0, 1.0, 1.0))
    return model, fitted


def _matrix(counted: Sequence[dict[str, int]], vocabulary: dict[str, int], idf: np.ndarray) -> Any:
    rows, cols, values = [], [], []
    for r, counts in enumerate(counted):
        entries = [
            (vocabulary[g], (1 + math.log(k)) * idf[vocabulary[g]])
            for g, k in counts.items()
            if g in vocabulary
        ]
        norm = math.sqrt(sum(v * v for _, v in entries)) or 1.0
        for col, value in entries:
            rows.append(r)
            cols.append(col)
            values.append(value / norm)
    return csr_matrix((values, (rows, cols)), shape=(len(counted), len(vocabulary)))


@cache
def _rules() -> TriageRules:
    return load_rules(reader=False)


def score(rows: Sequence[dict[str, Any]], model: NgramModel | None) -> dict[str, Any]:
    rules = replace(_rules(), reader=model)
    return Scorecard.of(
        Scored(Level(r["level"]), triage(r["text"], r["days"], rules, r["locale"])) for r in rows
    ).as_dict()


def choose_thresholds(model: NgramModel, dev: Sequence[dict[str, Any]]) -> Thresholds:
    """The thresholds that catch the most red flags on the development set, then the most
    exact levels, without over-escalating more than ``MAX_OVER_ESCALATION``."""
    best: tuple[float, float] | None = None
    chosen = Thresholds(1.0, 1.0, 1.0)
    grid = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    for emergency, red, check in product(grid, grid, [0.1, 0.15, 0.2, 0.25, 0.3]):
        if check >= red:
            continue
        model.thresholds = Thresholds(emergency, red, check)
        card = score(dev, model)
        if card["over_escalated_by_two"] > MAX_OVER_ESCALATION * card["total"]:
            continue
        key = (card["red_flags_caught"] - card["red_flags_reassured"], card["accuracy"])
        if best is None or key > best:
            best, chosen = key, model.thresholds
    model.thresholds = chosen
    return chosen


def encoded(model: NgramModel) -> bytes:
    text = json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the shipped file")
    args = parser.parse_args()
    corpus = labelled(sorted(CORPUS.glob("*.jsonl")))
    dev = labelled([DEV])
    model, _ = train(corpus)
    thresholds = choose_thresholds(model, dev)
    data = encoded(model)
    if args.check:
        same = OUT.exists() and OUT.read_bytes() == data
        say("model is up to date" if same else "model differs from a fresh training")
        return 0 if same else 1
    OUT.write_bytes(data)
    say(f"trained on {len(corpus)} messages, {len(model.to_json()['vocabulary'])} features")
    say(f"thresholds (chosen on the development set): {thresholds}")
    for name, reader in (("rules only", None), ("rules + model", model)):
        card = score(dev, reader)
        say(
            f"dev {name}: red flags {card['red_flags_caught']}/{card['red_flags']}, "
            f"emergencies {card['emergencies_as_emergency']}/{card['emergencies']}, "
            f"reassured {card['red_flags_reassured']}, exact {card['accuracy']:.1%}, "
            f"over-escalated by 2+ {card['over_escalated_by_two']}"
        )
    say(f"wrote {OUT.relative_to(REPO_ROOT)} ({len(data) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
