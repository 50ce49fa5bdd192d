"""Figure 6: triage speed and accuracy on the labelled sets (``aftercare triage
--evaluate``'s own scorecard), and what the model costs in memory.

The final set is the frozen blind one (docs/triage.md): the issue's targets are judged
there; the development set chose the model's thresholds, the older two fed the rules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bench.figures import Figure, at_least, at_most
from bot.triage_cli import evaluate
from messages.triage import load_rules

SECTION = "6. Triage"
DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
SETS = ("triage_final.jsonl", "triage_dev.jsonl", "triage_heldout.jsonl", "triage_labelled.jsonl")
TARGETED = "triage_final.jsonl"


@dataclass(frozen=True)
class TriageFigures:
    name: str
    per_second: float
    card: dict[str, Any]


def _items(path: Path) -> list[tuple[int, dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, json.loads(line)) for n, line in enumerate(lines, start=1) if line.strip()]


def measure(name: str, min_seconds: float) -> TriageFigures:
    """Evaluate the set repeatedly for at least ``min_seconds``; speed from all rounds."""
    items, rules = _items(DATA / name), load_rules()
    rounds, started = 0, time.perf_counter()
    while True:
        card = evaluate(items, rules)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            break
    return TriageFigures(name, rounds * card["total"] / elapsed, card)


def _share(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def figures(result: TriageFigures) -> list[Figure]:
    key = "triage." + result.name.removesuffix(".jsonl").removeprefix("triage_")
    name, card = result.name, result.card
    targeted = name == TARGETED
    emergencies = _share(card["emergencies_as_emergency"], card["emergencies"])
    urgent = _share(card["urgent_as_red_flag"], card["urgent"])
    over = _share(card["over_escalated_by_two"], card["total"])
    return [
        Figure(f"{key}.per_second", SECTION, f"{name}: messages triaged per second (one core, "
               "rules + model)", result.per_second, "/s", "≥ 2 000 /s",
               at_least(result.per_second, 2000)),
        Figure(f"{key}.accuracy", SECTION, f"{name}: exact level ({card['total']} messages)",
               100 * card["accuracy"], "%", "≥ 85 %" if targeted else "—",
               at_least(100 * card["accuracy"], 85) if targeted else None),
        Figure(f"{key}.emergency_recall", SECTION, f"{name}: emergencies read as emergency",
               emergencies, "%", "100 %", at_least(emergencies, 100.0)),
        Figure(f"{key}.urgent_recall", SECTION, f"{name}: urgent read as urgent or emergency",
               urgent, "%", "≥ 98 %", at_least(urgent, 98.0)),
        Figure(f"{key}.reassured", SECTION, f"{name}: red flags reassured (no checklist)",
               card["red_flags_reassured"], "", "0", at_most(card["red_flags_reassured"], 0)),
        Figure(f"{key}.over_escalated", SECTION, f"{name}: over-escalated by two levels or more",
               over, "%", "≤ 10 %", at_most(over, 10.0)),
    ]  # fmt: skip


_PROBE = """
from messages.triage import load_rules
from messages.triage.model import load_model


def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


load_rules(reader=False)
before = rss_kib()
model = load_model()
print((rss_kib() - before) / 1024)
"""


def model_memory() -> Figure:
    """What loading the model adds to resident memory (VmRSS, what stays), in a fresh
    process; the peak is not comparable across runs (parsing the rules can set it)."""
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    added = float(probe.stdout.strip())
    return Figure("triage.model_rss", SECTION, "the triage model's added memory (RSS after "
                  "loading, fresh process)", added, "MB", "≤ 50 MB", at_most(added, 50.0))  # fmt: skip
