"""Scoring triage against a labelled set: the figures a clinician asks for first.

Pure: labelled items and results in, a :class:`Scorecard` out. "Red flags" are the
messages labelled urgent or emergency; one is "reassured" when the answer was expected
or below and carried no checklist, the failure that must never happen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from messages.triage.engine import Level, TriageResult

LEVELS = tuple(sorted(Level, reverse=True))  # emergency first


@dataclass(frozen=True)
class Scored:
    """One labelled message and what triage made of it."""

    wanted: Level
    got: TriageResult


@dataclass
class Scorecard:
    confusion: Counter[tuple[Level, Level]] = field(default_factory=Counter)
    red_reassured: int = 0  # red flag answered expected or below with no checklist
    red_checklist_only: int = 0  # red flag below urgent, but the checklist was asked

    @classmethod
    def of(cls, scored: Iterable[Scored]) -> Scorecard:
        card = cls()
        for item in scored:
            got = item.got.level
            card.confusion[item.wanted, got] += 1
            if item.wanted >= Level.URGENT and got < Level.URGENT:
                if item.got.clarify is not None:
                    card.red_checklist_only += 1
                elif got <= Level.EXPECTED:
                    card.red_reassured += 1
        return card

    def count(self, wanted: set[Level] | None = None, got: set[Level] | None = None) -> int:
        return sum(
            n
            for (w, g), n in self.confusion.items()
            if (wanted is None or w in wanted) and (got is None or g in got)
        )

    @property
    def total(self) -> int:
        return self.count()

    @property
    def exact(self) -> int:
        return sum(n for (w, g), n in self.confusion.items() if w == g)

    @property
    def over_by_two(self) -> int:
        """Answers two or more levels above the label (e.g. expected read as urgent)."""
        return sum(n for (w, g), n in self.confusion.items() if g.rank - w.rank >= 2)

    def recall(self, level: Level) -> float | None:
        row = self.count({level})
        return self.count({level}, {level}) / row if row else None

    def as_dict(self) -> dict[str, Any]:
        red = {Level.URGENT, Level.EMERGENCY}
        return {
            "total": self.total,
            "accuracy": self.exact / self.total if self.total else 0.0,
            "recall": {level.value: r for level in LEVELS if (r := self.recall(level)) is not None},
            "red_flags": self.count(red),
            "red_flags_caught": self.count(red, red),
            "emergencies": self.count({Level.EMERGENCY}),
            "emergencies_as_emergency": self.count({Level.EMERGENCY}, {Level.EMERGENCY}),
            "urgent": self.count({Level.URGENT}),
            "urgent_as_red_flag": self.count({Level.URGENT}, red),
            "red_flags_reassured": self.red_reassured,
            "red_flags_checklist_only": self.red_checklist_only,
            "over_escalated_by_two": self.over_by_two,
            "levels": [level.value for level in LEVELS],
            "confusion": {w.value: {g.value: self.confusion[w, g] for g in LEVELS} for w in LEVELS},
        }


def format_scorecard(report: dict[str, Any]) -> str:
    """The scorecard as a person reads it in a terminal."""
    total = report["total"] or 1
    lines = [
        f"messages: {report['total']}  exact level: {report['accuracy']:.1%}",
        f"red flags caught (urgent or emergency): {report['red_flags_caught']} / "
        f"{report['red_flags']}",
        f"emergencies read as emergency: {report['emergencies_as_emergency']} / "
        f"{report['emergencies']}",
        f"urgent read as urgent or emergency: {report['urgent_as_red_flag']} / {report['urgent']}",
        f"red flags reassured (expected or below, no checklist): {report['red_flags_reassured']}",
        f"red flags below urgent but asked the checklist: {report['red_flags_checklist_only']}",
        f"over-escalated by two or more levels: {report['over_escalated_by_two']} "
        f"({report['over_escalated_by_two'] / total:.1%})",
    ]
    lines += [f"recall {level}: {value:.1%}" for level, value in report["recall"].items()]
    levels: list[str] = report["levels"]
    width = max(len(level) for level in levels) + 2
    lines.append("confusion (rows: labelled, columns: triaged)")
    lines.append(" " * width + "".join(f"{level:>{width}}" for level in levels))
    for wanted in levels:
        row = report["confusion"][wanted]
        lines.append(f"{wanted:<{width}}" + "".join(f"{row[got]:>{width}}" for got in levels))
    return "\n".join(lines)
