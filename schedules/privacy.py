"""A patient's data rights: export everything we hold about them, forget them, and retention.

Forgetting deletes rows; it keeps nothing about the person. What the clinic still has
afterwards are numbers that never named them (a broadcast's own row, protocol versions,
staff rows); counts derived from deleted rows (a broadcast's report, ``/stats``) simply
no longer include them. The ``Counts`` a call returns are what the log records.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.clinics import clinic_of
from schedules.db import SessionFactory
from schedules.models import (
    BroadcastDelivery,
    Clinic,
    Patient,
    Protocol,
    Reminder,
    StaffAlert,
    SymptomReport,
    Treatment,
)

EXPORT_FORMAT = 1


@dataclass(frozen=True)
class Counts:
    """How many rows of each kind forgetting deleted (numbers only: safe to log)."""

    patients: int = 0
    treatments: int = 0
    reminders: int = 0
    reports: int = 0
    staff_alerts: int = 0
    deliveries: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def describe(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


async def forget_patient(session: AsyncSession, patient_id: int) -> Counts:
    """Delete the patient and everything that is theirs, children first (FK-safe).

    Runs in the caller's transaction; the caller commits, so it is all or nothing.
    """
    reports = select(SymptomReport.id).where(col(SymptomReport.patient_id) == patient_id)
    alerts = await _delete(session, StaffAlert, col(StaffAlert.report_id).in_(reports))
    deliveries = await _delete(
        session, BroadcastDelivery, col(BroadcastDelivery.patient_id) == patient_id
    )
    reports_deleted = await _delete(
        session, SymptomReport, col(SymptomReport.patient_id) == patient_id
    )
    # A snoozed copy points at the reminder it repeats (same patient): unlink, then delete.
    await session.exec(
        sa.update(Reminder)
        .where(col(Reminder.patient_id) == patient_id, col(Reminder.snoozed_from).is_not(None))
        .values(snoozed_from=None)
    )
    reminders = await _delete(session, Reminder, col(Reminder.patient_id) == patient_id)
    treatments = await _delete(session, Treatment, col(Treatment.patient_id) == patient_id)
    patients = await _delete(session, Patient, col(Patient.id) == patient_id)
    return Counts(
        patients=patients,
        treatments=treatments,
        reminders=reminders,
        reports=reports_deleted,
        staff_alerts=alerts,
        deliveries=deliveries,
    )


async def _delete(session: AsyncSession, table: type[Any], condition: Any) -> int:
    result = await session.exec(sa.delete(table).where(condition))
    return int(result.rowcount)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def export_patient(
    session: AsyncSession, patient_id: int, default_clinic: str | None = None
) -> dict[str, Any]:
    """Everything we hold about one patient, as JSON-safe data (strings, numbers, lists).

    ``default_clinic`` is the operator's clinic slug, which a patient without one belongs to.
    """
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id}")
    clinic: Clinic | None = None
    if patient.clinic_id is not None or default_clinic is not None:
        clinic = await clinic_of(session, patient, default_clinic or "")
    treatments = (
        await session.exec(
            select(Treatment, Protocol)
            .join(Protocol, col(Protocol.id) == col(Treatment.protocol_id))
            .where(col(Treatment.patient_id) == patient_id)
            .order_by(col(Treatment.treated_at), col(Treatment.id))
        )
    ).all()
    reminders = (
        await session.exec(
            select(Reminder)
            .where(col(Reminder.patient_id) == patient_id)
            .order_by(col(Reminder.due_at), col(Reminder.id))
        )
    ).all()
    reports = (
        await session.exec(
            select(SymptomReport)
            .where(col(SymptomReport.patient_id) == patient_id)
            .order_by(col(SymptomReport.created_at), col(SymptomReport.id))
        )
    ).all()
    return {
        "format": EXPORT_FORMAT,
        "profile": {
            "telegram_chat_id": patient.chat_id,
            "clinic": clinic.name if clinic else None,
            "language": patient.locale,
            "timezone": patient.timezone,
            "quiet_hours": {"start": patient.quiet_start, "end": patient.quiet_end},
            "status": str(patient.status),
            "skin_type": patient.skin_type,
            "pigmentation_watch": patient.pigmentation_watch,
            "contraindications": list(patient.contraindications),
            "consent_at": _iso(patient.consent_at),
            "redness_gone_at": _iso(patient.redness_gone_at),
            "redness_review_at": _iso(patient.redness_review_at),
            "outdoors_since": _iso(patient.outdoors_since),
            "created_at": _iso(patient.created_at),
        },
        "treatments": [
            {
                "treated_at": _iso(treatment.treated_at),
                "protocol": protocol.slug,
                "protocol_version": protocol.version,
                "course": treatment.course,
                "course_number": treatment.course_number,
                "area": treatment.area,
                "active": treatment.active,
            }
            for treatment, protocol in treatments
        ],
        "reminders": [
            {
                "step": reminder.step_id,
                "due_at": _iso(reminder.due_at),
                "status": str(reminder.status),
                "sent_at": _iso(reminder.sent_at),
                "answered_at": _iso(reminder.answered_at),
            }
            for reminder in reminders
        ],
        "reports": [
            {
                "created_at": _iso(report.created_at),
                "source": report.source,
                "text": report.text,
                "has_photo": report.photo_file_id is not None,
                "level": report.level,
                "findings": list(report.findings),
                "day": report.day,
                "state": str(report.state),
                "acknowledged_at": _iso(report.acknowledged_at),
                "closed_at": _iso(report.closed_at),
            }
            for report in reports
        ],
    }


async def expired_patients(session: AsyncSession, now: datetime, keep_for: timedelta) -> list[int]:
    """Patients with nothing newer than ``now - keep_for``: no treatment, reminder or report.

    The latest reminder's due time is where a treatment's aftercare ends (a pending
    reminder ahead keeps a patient); a patient who never registered a treatment is
    judged by when they first wrote.
    """
    cutoff = now - keep_for
    recent_treatment = select(Treatment.id).where(
        col(Treatment.patient_id) == col(Patient.id), col(Treatment.treated_at) >= cutoff
    )
    recent_reminder = select(Reminder.id).where(
        col(Reminder.patient_id) == col(Patient.id), col(Reminder.due_at) >= cutoff
    )
    recent_report = select(SymptomReport.id).where(
        col(SymptomReport.patient_id) == col(Patient.id), col(SymptomReport.created_at) >= cutoff
    )
    query = (
        select(Patient.id)
        .where(
            col(Patient.created_at) < cutoff,
            ~recent_treatment.exists(),
            ~recent_reminder.exists(),
            ~recent_report.exists(),
        )
        .order_by(col(Patient.id))
    )
    return [patient_id for patient_id in (await session.exec(query)).all() if patient_id]


async def purge_expired(sessions: SessionFactory, now: datetime, keep_for: timedelta) -> Counts:
    """Forget every expired patient, one transaction each (a failure keeps the others')."""
    async with sessions() as session:
        expired = await expired_patients(session, now, keep_for)
    total = Counts()
    for patient_id in expired:
        async with sessions() as session:
            total += await forget_patient(session, patient_id)
            await session.commit()
    return total
