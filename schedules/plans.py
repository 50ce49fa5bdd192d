"""Turning a patient's facts into outbox rows: register a treatment, re-plan on change.

Re-planning is idempotent: the outbox key (treatment, step, occurrence) means
planning twice leaves the same rows, and only pending rows ever move.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.catalog import ProtocolCatalog
from schedules.models import Patient, Reminder, ReminderStatus, Treatment
from schedules.outdoors import plan_with_outing
from schedules.planner import PlannedReminder, Preferences, decide_late
from schedules.protocol import ProtocolSpec
from schedules.store import PlanChange, PlanItem, apply_plan


def preferences(patient: Patient) -> Preferences:
    if patient.timezone is None:
        raise ValueError("a patient without a timezone cannot be planned for")
    return Preferences(
        timezone=patient.timezone,
        quiet_start=time.fromisoformat(patient.quiet_start),
        quiet_end=time.fromisoformat(patient.quiet_end),
        skin_type=patient.skin_type,
        pigmentation_watch=patient.pigmentation_watch,
    )


def treatment_preferences(patient: Patient, treatment: Treatment) -> Preferences:
    """The patient's preferences with the treatment's course and session number."""
    return replace(
        preferences(patient), course=treatment.course, session=max(treatment.course_number, 1)
    )


async def active_treatment(session: AsyncSession, patient_id: int) -> Treatment | None:
    return (
        await session.exec(
            select(Treatment).where(Treatment.patient_id == patient_id, Treatment.active)
        )
    ).first()


async def set_treatment(
    session: AsyncSession,
    patient: Patient,
    treated_at: datetime,
    protocol_id: int,
    now: datetime,
    *,
    course: str | None = None,
) -> Treatment:
    """Record when the patient was treated; a new date for the current treatment moves it
    (a correction: course and session number stay). ``course`` is the course of a first
    treatment (None: the table's default)."""
    assert patient.id is not None
    treatment = await active_treatment(session, patient.id)
    if treatment is None:
        treatment = Treatment(
            patient_id=patient.id, protocol_id=protocol_id, treated_at=treated_at, created_at=now
        )
        if course is not None:
            treatment.course = course
    else:
        treatment.treated_at = treated_at
    session.add(treatment)
    await session.flush()
    return treatment


async def start_next_session(
    session: AsyncSession, patient: Patient, treated_at: datetime, protocol_id: int, now: datetime
) -> Treatment:
    """A new session of the patient's course: the current treatment ends (its pending
    reminders are cancelled, history stays) and the next one, numbered one higher in the
    same course, begins. The skin is red again, so the redness gate reopens (a redness
    review flag stays for the clinic). ``LookupError`` without a current treatment."""
    assert patient.id is not None
    previous = await active_treatment(session, patient.id)
    if previous is None or previous.id is None:
        raise LookupError("a new session needs a current treatment to follow")
    previous.active = False
    session.add(previous)
    patient.redness_gone_at = None
    session.add(patient)
    await session.exec(
        sa.update(Reminder)
        .where(
            col(Reminder.treatment_id) == previous.id,
            col(Reminder.status) == ReminderStatus.PENDING,
        )
        .values(status=ReminderStatus.CANCELLED, last_error="a new session began")
    )
    treatment = Treatment(
        patient_id=patient.id,
        protocol_id=protocol_id,
        treated_at=treated_at,
        course=previous.course,
        course_number=previous.course_number + 1,
        created_at=now,
    )
    session.add(treatment)
    await session.flush()
    return treatment


async def replan_patient(
    session: AsyncSession, patient: Patient, catalog: ProtocolCatalog, *, now: datetime
) -> PlanChange:
    """Bring the outbox in line with the patient's active treatment and preferences.

    Occurrences already in the past are kept only where the step's staleness policy
    would still send them, so that a new treatment date or a /resume does not
    replay weeks of stale advice.
    """
    assert patient.id is not None
    treatment = await active_treatment(session, patient.id)
    if treatment is None or treatment.id is None or patient.timezone is None:
        return PlanChange(added=0, moved=0, cancelled=0, unchanged=0)
    spec = await catalog.spec(treatment.protocol_id)
    planned = plan_with_outing(
        spec,
        treatment.treated_at,
        treatment_preferences(patient, treatment),
        outdoors_since=patient.outdoors_since,
        now=now,
    )
    items = [
        PlanItem(p.step_id, p.occurrence, p.due_at) for p in still_worth_sending(spec, planned, now)
    ]
    return await apply_plan(session, treatment_id=treatment.id, patient_id=patient.id, items=items)


def still_worth_sending(
    spec: ProtocolSpec, planned: list[PlannedReminder], now: datetime
) -> list[PlannedReminder]:
    """Drop past occurrences that the step's staleness policy would skip anyway."""
    newest_past: dict[str, int] = {}
    for item in planned:
        if item.due_at <= now:
            newest_past[item.step_id] = max(newest_past.get(item.step_id, -1), item.occurrence)
    return [
        item
        for item in planned
        if item.due_at > now
        or decide_late(
            spec.step(item.step_id),
            item.due_at,
            now,
            newer_occurrence_due=newest_past[item.step_id] > item.occurrence,
        )
        == "send"
    ]
