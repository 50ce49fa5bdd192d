"""The frozen final blind set: unchanged, and never scored worse than the figures reported
in docs/triage.md. Never tuned on: a failure here is a regression to fix by other means
(more training data, the development set), not by reading these lines. The development
set, which chose the model's thresholds, is held to the issue's targets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from messages.triage import Level, load_rules, triage
from messages.triage.evaluation import Scorecard, Scored

FINAL = Path(__file__).parents[1] / "data" / "triage_final.jsonl"
DEV = Path(__file__).parents[1] / "data" / "triage_dev.jsonl"
FROZEN_SHA256 = "913a0c0fe87b7794ff3b676068c5566d78ec86a107d1d7cb14046f5aadd6e174"


def test_the_final_set_is_unchanged() -> None:
    assert hashlib.sha256(FINAL.read_bytes()).hexdigest() == FROZEN_SHA256


def scorecard(path: Path) -> dict[str, Any]:
    rules = load_rules()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return Scorecard.of(
        Scored(Level(r["level"]), triage(r["text"], r["days"], rules, r["locale"])) for r in rows
    ).as_dict()


def test_the_final_set_never_scores_worse_than_reported() -> None:
    card = scorecard(FINAL)
    assert card["red_flags_reassured"] == 0
    assert card["red_flags_caught"] >= 144  # of 144
    assert card["emergencies_as_emergency"] >= 54  # of 56
    assert card["accuracy"] >= 0.865
    assert card["over_escalated_by_two"] <= 0.10 * card["total"]


def test_the_development_set_meets_the_issues_targets() -> None:
    card = scorecard(DEV)
    assert card["red_flags_reassured"] == 0
    assert card["urgent_as_red_flag"] >= 0.98 * card["urgent"]
    assert card["accuracy"] >= 0.85
    assert card["over_escalated_by_two"] <= 0.10 * card["total"]
