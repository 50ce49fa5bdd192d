"""Figure 6: triage speed and accuracy on the labelled sets, with ``aftercare triage
--evaluate``'s own evaluation (``bot.triage_cli.evaluate``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bench.figures import Figure, at_least
from bot.triage_cli import evaluate
from messages.triage import load_rules

SECTION = "6. Triage"
DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
SETS = ("triage_labelled.jsonl", "triage_heldout.jsonl")


@dataclass(frozen=True)
class TriageFigures:
    name: str
    messages: int
    per_second: float
    accuracy: float
    emergency_recall: float | None


def _items(path: Path) -> list[tuple[int, dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, json.loads(line)) for n, line in enumerate(lines, start=1) if line.strip()]


def measure(name: str, min_seconds: float) -> TriageFigures:
    """Evaluate the set repeatedly for at least ``min_seconds``; speed from all rounds."""
    items, rules = _items(DATA / name), load_rules()
    rounds, started = 0, time.perf_counter()
    while True:
        report = evaluate(items, rules)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            break
    recall = report["recall"].get("emergency")
    return TriageFigures(name, report["total"], rounds * report["total"] / elapsed,
                         100 * report["accuracy"], None if recall is None else 100 * recall)  # fmt: skip


def figures(result: TriageFigures) -> list[Figure]:
    key = "triage." + result.name.removesuffix(".jsonl").removeprefix("triage_")
    name = result.name
    return [
        Figure(f"{key}.per_second", SECTION, f"{name}: messages triaged per second",
               result.per_second, "/s", "—"),
        Figure(f"{key}.accuracy", SECTION, f"{name}: exact level ({result.messages} messages)",
               result.accuracy, "%", "—"),
        Figure(f"{key}.emergency_recall", SECTION, f"{name}: emergencies recognised",
               result.emergency_recall, "%", "100 % (promise 3: never reassure an emergency)",
               at_least(result.emergency_recall, 100.0)),
    ]  # fmt: skip
