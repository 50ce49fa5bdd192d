"""The second reader: our inference equals scikit-learn's, the shipped file loads and is
checked, and the engine lets it raise an answer but never lower one."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from messages.triage import Level, load_rules, triage
from messages.triage.engine import CHECK_LEVEL
from messages.triage.model import CLASSES, load_model
from schedules.errors import RulesError

ROOT = Path(__file__).parents[2]
RULES = load_rules(reader=False)


def trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train", ROOT / "scripts/train_triage_model.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train"] = module
    spec.loader.exec_module(module)
    return module


def test_our_inference_gives_scikit_learns_probabilities() -> None:
    train = trainer()
    rows = train.labelled(sorted(train.CORPUS.glob("*.jsonl")))[::12]  # 300 messages, fast
    ours, theirs = train.train(rows)
    probe = rows[:40]
    matrix = train._matrix(
        [train.features(r["text"], r["days"]) for r in probe], ours._vocabulary, ours._idf
    )
    expected = theirs.predict_proba(matrix)
    for row, wanted in zip(probe, expected, strict=True):
        got = ours.probabilities(row["text"], row["days"])
        by_label = {CLASSES[label]: p for label, p in zip(theirs.classes_, wanted, strict=True)}
        for level, p in by_label.items():
            assert got[level] == pytest.approx(p, abs=1e-6)


def test_the_shipped_model_loads_and_reads_a_red_flag_the_rules_do_not_know() -> None:
    model = load_model()
    probs = model.probabilities("my throat is closing and I am drooling", 0)
    assert abs(sum(probs.values()) - 1) < 1e-9
    assert model.red_flag("thank you so much!", 3) is None


def test_a_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(RulesError, match=r"model\.json\.gz: not a gzip JSON model"):
        load_model(bad)
    bad.write_bytes(gzip.compress(json.dumps({"format": 1, "classes": ["x"]}).encode()))
    with pytest.raises(RulesError, match="unknown model format or classes"):
        load_model(bad)


class Fixed:
    """A second reader that always says the same (the engine's port, not a model)."""

    def __init__(self, level: Level | None) -> None:
        self.level = level

    def red_flag(self, text: str, days: int) -> Level | None:
        return self.level


def test_the_second_reader_raises_but_never_lowers() -> None:
    with_reader = lambda level: replace(RULES, reader=Fixed(level))  # noqa: E731
    assert triage("a bit red", 1, with_reader(Level.URGENT)).level == Level.URGENT
    raised = triage("a bit red", 1, with_reader(Level.URGENT))
    assert "reader:urgent" in {f.rule for f in raised.findings}
    checked = triage("a bit red", 1, with_reader(CHECK_LEVEL))
    assert checked.level == Level.ROUTINE_FOLLOWUP
    assert checked.clarify is not None
    calm = triage("my lips are swelling", 0, with_reader(None))
    assert calm.level == Level.EMERGENCY  # the rules' emergency stands
    urgent = triage("there is pus", 4, with_reader(CHECK_LEVEL))
    assert urgent.level == Level.URGENT
    assert urgent.clarify is None


def test_a_model_weight_matrix_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    data = load_model().to_json()
    data["coef"] = np.zeros((2, len(CLASSES))).tolist()
    path = tmp_path / "model.json.gz"
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(RulesError, match="do not fit its vocabulary"):
        load_model(path)
