"""What the bench produces: figures beside their comparison, and the report around them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured number. ``met`` is None where there is a comparison but no target."""

    key: str
    section: str
    label: str
    value: float | None
    unit: str
    comparison: str
    met: bool | None = None

    def shown(self) -> str:
        return "n/a" if self.value is None else _number(self.value, self.unit)


@dataclass
class Report:
    machine: dict[str, str]
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # e.g. query plans, profiles

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def as_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "quick": self.quick,
            "figures": [asdict(f) for f in self.figures],
            "notes": self.notes,
            "details": self.details,
        }


def at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def grouped(number: int) -> str:
    """1234567 -> "1 234 567"."""
    return f"{number:,}".replace(",", " ")


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "%":
        return f"{value:.1f} %"
    if abs(value) >= 100 or value == int(value):
        text = f"{value:,.0f}".replace(",", " ")
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()
