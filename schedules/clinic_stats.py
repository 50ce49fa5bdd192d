"""What a clinic's staff see at a glance: patients by stage, flags, and this week's numbers.

Counts only, computed for one clinic at a time: nothing here crosses clinics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import (
    Patient,
    PatientStatus,
    Reminder,
    ReminderStatus,
    SymptomReport,
    Treatment,
)
from schedules.profile import local_day

# Stages of an active patient, by local days since their treatment.
FIRST_WEEK_LAST_DAY = 7
NEXT_SESSION_DAY = 28


@dataclass(frozen=True)
class PatientOverview:
    by_stage: Counter[str] = field(default_factory=Counter)
    flagged: list[int] = field(default_factory=list)  # patient ids with contraindications
    unreachable: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class WeekStats:
    since: datetime
    reminders_sent: int
    checkins_answered: int
    reports_by_level: Counter[str]


def patients_of(clinic_id: int, *, is_default: bool) -> sa.ColumnElement[bool]:
    """Patients of a clinic; those who joined without a clinic link belong to the default one."""
    mine = col(Patient.clinic_id) == clinic_id
    return sa.or_(mine, col(Patient.clinic_id).is_(None)) if is_default else mine


def belongs_to(patient: Patient, clinic_id: int, *, is_default: bool) -> bool:
    """``patients_of`` for one patient already read."""
    return patient.clinic_id == clinic_id or (is_default and patient.clinic_id is None)


def stage_of(patient: Patient, treated_at: datetime | None, now: datetime) -> str:
    """One word for where a patient is: their status, or how far their healing is."""
    if patient.status != PatientStatus.ACTIVE:
        return str(patient.status)
    if treated_at is None:
        return "no_treatment"
    day = local_day(treated_at, now, patient.timezone or "UTC")
    if day <= FIRST_WEEK_LAST_DAY:
        return "first_week"
    if day < NEXT_SESSION_DAY:
        return "healing"
    return "next_session_due"


async def patient_overview(
    session: AsyncSession, clinic_id: int, now: datetime, *, is_default: bool = False
) -> PatientOverview:
    rows = await session.exec(
        select(Patient, Treatment.treated_at)
        .join(
            Treatment,
            sa.and_(col(Treatment.patient_id) == col(Patient.id), col(Treatment.active)),
            isouter=True,
        )
        .where(patients_of(clinic_id, is_default=is_default))
    )
    overview = PatientOverview()
    for patient, treated_at in rows.all():
        assert patient.id is not None
        overview.by_stage[stage_of(patient, treated_at, now)] += 1
        if patient.contraindications:
            overview.flagged.append(patient.id)
        if patient.status == PatientStatus.UNREACHABLE:
            overview.unreachable.append(patient.id)
    return overview


@dataclass(frozen=True)
class PatientRow:
    """One patient as the console lists them: pseudonym (id), stage, day and flags."""

    patient_id: int
    stage: str
    day: int | None  # local days since the active treatment
    flags: tuple[str, ...]  # "contraindication", "unreachable", "redness past day 7"


def flags_of(patient: Patient, day: int | None) -> tuple[str, ...]:
    flags = []
    if patient.contraindications:
        flags.append("contraindication")
    if patient.status == PatientStatus.UNREACHABLE:
        flags.append("unreachable")
    if day is not None and day > FIRST_WEEK_LAST_DAY and patient.redness_gone_at is None:
        flags.append("redness past day 7")
    return tuple(flags)


async def patient_rows(
    session: AsyncSession, clinic_id: int, now: datetime, *, is_default: bool = False
) -> list[PatientRow]:
    """The clinic's patients, newest first, each with stage, day and flags."""
    rows = await session.exec(
        select(Patient, Treatment.treated_at)
        .join(
            Treatment,
            sa.and_(col(Treatment.patient_id) == col(Patient.id), col(Treatment.active)),
            isouter=True,
        )
        .where(patients_of(clinic_id, is_default=is_default))
        .order_by(col(Patient.id).desc())
    )
    found = []
    for patient, treated_at in rows.all():
        assert patient.id is not None
        day = local_day(treated_at, now, patient.timezone or "UTC") if treated_at else None
        stage = stage_of(patient, treated_at, now)
        found.append(PatientRow(patient.id, stage, day, flags_of(patient, day)))
    return found


async def week_stats(
    session: AsyncSession, clinic_id: int, now: datetime, *, is_default: bool = False
) -> WeekStats:
    """The last seven days of one clinic."""
    since = now - timedelta(days=7)
    of_clinic = col(Reminder.patient_id).in_(
        select(Patient.id).where(patients_of(clinic_id, is_default=is_default))
    )
    sent = await session.exec(
        select(sa.func.count())
        .select_from(Reminder)
        .where(
            of_clinic, col(Reminder.status) == ReminderStatus.SENT, col(Reminder.sent_at) >= since
        )
    )
    answered = await session.exec(
        select(sa.func.count())
        .select_from(Reminder)
        .where(of_clinic, col(Reminder.answered_at) >= since)
    )
    levels = await session.exec(
        select(SymptomReport.level, sa.func.count())
        .where(col(SymptomReport.clinic_id) == clinic_id, col(SymptomReport.created_at) >= since)
        .group_by(col(SymptomReport.level))
    )
    return WeekStats(since, sent.one(), answered.one(), Counter(dict(levels.all())))
