"""The patient's skin profile: the enrolment answers, what they flag, and redness review.

Pure helpers plus one query; the words the patient sees live in ``bot/handlers/profile.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import Patient
from schedules.wallclock import require_aware, zone

SKIN_TYPES = ("dry", "normal", "oily", "sensitive")
CONTRAINDICATIONS = ("rosacea", "eczema", "scars-easily", "active-acne-or-cold-sores")
"""Stored in ``Patient.contraindications``; any of them flags the patient to the clinic."""
NONE_OF_THESE = "none"
"""The "None of these" choice of the multi-select; never stored."""
CHOICES = (*CONTRAINDICATIONS, NONE_OF_THESE)
MAX_MASK = (1 << len(CHOICES)) - 1

REDNESS_REVIEW_DAY = 7
"""From this local day after the treatment, redness that is still there goes to the clinic."""


def toggle(selected: frozenset[str], choice: str) -> frozenset[str]:
    """The selection after tapping ``choice``: "None of these" excludes everything else."""
    if choice not in CHOICES:
        raise ValueError(f"unknown choice {choice!r}")
    if choice in selected:
        return selected - {choice}
    if choice == NONE_OF_THESE:
        return frozenset({NONE_OF_THESE})
    return (selected - {NONE_OF_THESE}) | {choice}


def encode(selected: Iterable[str]) -> int:
    """A selection as a small bit mask, short enough for callback data."""
    chosen = set(selected)
    return sum(1 << index for index, choice in enumerate(CHOICES) if choice in chosen)


def decode(mask: int) -> frozenset[str]:
    if not 0 <= mask <= MAX_MASK:
        raise ValueError(f"mask {mask} out of range")
    return frozenset(choice for index, choice in enumerate(CHOICES) if mask & (1 << index))


def contraindications_of(selected: Iterable[str]) -> list[str]:
    """What to store: the chosen contraindications in their canonical order."""
    chosen = set(selected)
    return [c for c in CONTRAINDICATIONS if c in chosen]


def profile_untouched(patient: Patient) -> bool:
    """True when the enrolment questions were never finished and nothing was answered."""
    return (
        patient.profile_done_at is None
        and patient.skin_type is None
        and not patient.pigmentation_watch
        and not patient.contraindications
    )


def local_day(treated_at: datetime, now: datetime, timezone: str) -> int:
    """Local calendar days from the treatment to ``now`` (0 on the treatment day)."""
    tz = zone(timezone)
    treated = require_aware(treated_at, "treated_at").astimezone(tz).date()
    return (require_aware(now, "now").astimezone(tz).date() - treated).days


def redness_needs_review(treated_at: datetime, now: datetime, timezone: str) -> bool:
    """Redness still reported on day 7 or later is for the clinic to review."""
    return local_day(treated_at, now, timezone) >= REDNESS_REVIEW_DAY


async def patients_with_contraindications(session: AsyncSession) -> list[Patient]:
    """Patients who told us of a contraindication: the clinic must see them (oldest first)."""
    has_any = sa.func.json_array_length(col(Patient.contraindications)) > 0
    rows = await session.exec(select(Patient).where(has_any).order_by(col(Patient.id)))
    return list(rows.all())
