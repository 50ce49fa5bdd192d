"""Turning a patient's facts into outbox rows: register a treatment, re-plan on change.

Re-planning is idempotent: the outbox key (treatment, step, occurrence) means
planning twice leaves the same rows, and only pending rows ever move.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.catalog import ProtocolCatalog
from schedules.models import Patient, Treatment
from schedules.planner import PlannedReminder, Preferences, decide_late, plan
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
    )


async def active_treatment(session: AsyncSession, patient_id: int) -> Treatment | None:
    return (
        await session.exec(
            select(Treatment).where(Treatment.patient_id == patient_id, Treatment.active)
        )
    ).first()


async def set_treatment(
    session: AsyncSession, patient: Patient, treated_at: datetime, protocol_id: int, now: datetime
) -> Treatment:
    """Record when the patient was treated; a new date for the current treatment moves it."""
    assert patient.id is not None
    treatment = await active_treatment(session, patient.id)
    if treatment is None:
        treatment = Treatment(
            patient_id=patient.id, protocol_id=protocol_id, treated_at=treated_at, created_at=now
        )
    else:
        treatment.treated_at = treated_at
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
    planned = plan(spec, treatment.treated_at, preferences(patient))
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
