"""Forgetting, exporting and retention on real databases (SQLite and Postgres)."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from schedules.db import SessionFactory
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    Clinic,
    EscalationState,
    Patient,
    Reminder,
    ReminderStatus,
    Staff,
    StaffAlert,
    SymptomReport,
    Treatment,
)
from schedules.privacy import (
    Counts,
    expired_patients,
    export_patient,
    forget_patient,
    purge_expired,
)
from tests.integration.conftest import T0, Owner, add_owner

YEAR = timedelta(days=365)


async def give_history(sessions: SessionFactory, owner: Owner, word: str) -> None:
    """Reminders (one snoozed copy), a report with a staff alert, a broadcast delivery."""
    async with sessions() as session:
        clinic = Clinic(slug=f"c-{owner.patient_id}", name="Glow", created_at=T0)
        session.add(clinic)
        await session.flush()
        assert clinic.id is not None
        staff = Staff(clinic_id=clinic.id, user_id=9000 + owner.patient_id, created_at=T0)
        broadcast = Broadcast(clinic_id=clinic.id, text="Closed on Monday", created_at=T0)
        first = Reminder(
            treatment_id=owner.treatment_id,
            patient_id=owner.patient_id,
            step_id="spf",
            occurrence=0,
            due_at=T0 + timedelta(days=1),
            status=ReminderStatus.SENT,
        )
        report = SymptomReport(
            patient_id=owner.patient_id,
            treatment_id=owner.treatment_id,
            clinic_id=clinic.id,
            text=f"{word} cheek is hot",
            level="urgent",
            state=EscalationState.OPEN,
            created_at=T0 + timedelta(hours=2),
        )
        session.add_all([staff, broadcast, first, report])
        await session.flush()
        assert first.id is not None
        assert report.id is not None
        assert broadcast.id is not None
        session.add_all(
            [
                Reminder(
                    treatment_id=owner.treatment_id,
                    patient_id=owner.patient_id,
                    step_id="spf",
                    occurrence=-first.id,
                    due_at=T0 + timedelta(days=1, hours=1),
                    snoozed_from=first.id,
                ),
                StaffAlert(report_id=report.id, chat_id=staff.user_id, message_id=7, sent_at=T0),
                BroadcastDelivery(broadcast_id=broadcast.id, patient_id=owner.patient_id),
            ]
        )
        await session.commit()


async def count(sessions: SessionFactory, table: type, patient_id: int | None = None) -> int:
    async with sessions() as session:
        query = sa.select(sa.func.count()).select_from(table)
        if patient_id is not None:
            query = query.where(table.patient_id == patient_id)  # type: ignore[attr-defined]
        return int((await session.exec(query)).one()[0])  # type: ignore[call-overload]


async def test_forget_deletes_everything_of_the_patient_and_nothing_of_another(
    sessions: SessionFactory, owner: Owner
) -> None:
    other = await add_owner(sessions, chat_id=2002)
    await give_history(sessions, owner, "Zanzibar")
    await give_history(sessions, other, "Other")

    async with sessions() as session:
        counts = await forget_patient(session, owner.patient_id)
        await session.commit()

    assert counts == Counts(
        patients=1, treatments=1, reminders=2, reports=1, staff_alerts=1, deliveries=1
    )
    for table in (Reminder, SymptomReport, Treatment, BroadcastDelivery):
        assert await count(sessions, table, owner.patient_id) == 0
        assert await count(sessions, table, other.patient_id) > 0
    async with sessions() as session:
        assert await session.get(Patient, owner.patient_id) is None
        assert await session.get(Patient, other.patient_id) is not None
        texts = (await session.exec(select(SymptomReport.text))).all()
    assert texts == ["Other cheek is hot"]
    assert await count(sessions, StaffAlert) == 1
    assert await count(sessions, Broadcast) == 2  # the clinic's own messages stay
    assert await count(sessions, Staff) == 2


async def test_forget_is_all_or_nothing(sessions: SessionFactory, owner: Owner) -> None:
    await give_history(sessions, owner, "Zanzibar")
    async with sessions() as session:
        await forget_patient(session, owner.patient_id)
        await session.rollback()
    assert await count(sessions, Reminder, owner.patient_id) == 2
    assert await count(sessions, Patient) == 1


async def test_export_holds_the_patients_data_only(sessions: SessionFactory, owner: Owner) -> None:
    other = await add_owner(sessions, chat_id=2002)
    await give_history(sessions, owner, "Zanzibar")
    await give_history(sessions, other, "Other")

    async with sessions() as session:
        data = await export_patient(session, owner.patient_id)

    text = json.dumps(data)  # JSON-safe as it is
    assert "Zanzibar" in text
    assert "Other" not in text
    assert "2002" not in text
    assert data["profile"]["telegram_chat_id"] == 1001
    assert data["profile"]["clinic"] is None
    assert data["profile"]["timezone"] == "Europe/London"
    [treatment] = data["treatments"]
    assert treatment["treated_at"] == T0.isoformat()
    assert [r["status"] for r in data["reminders"]] == ["sent", "pending"]
    assert data["reminders"][0]["step"] == "spf"
    [report] = data["reports"]
    assert report["text"] == "Zanzibar cheek is hot"
    assert report["level"] == "urgent"
    assert report["created_at"] == (T0 + timedelta(hours=2)).isoformat()


async def test_retention_selects_only_patients_finished_long_enough_ago(
    sessions: SessionFactory, owner: Owner
) -> None:
    await give_history(sessions, owner, "Old")  # last activity: a reminder due T0 + 1 day 1 h
    recent = await add_owner(sessions, chat_id=2002)
    async with sessions() as session:
        session.add(
            Reminder(
                treatment_id=recent.treatment_id,
                patient_id=recent.patient_id,
                step_id="window",
                occurrence=0,
                due_at=T0 + timedelta(days=60),
            )
        )
        await session.commit()

    last = T0 + timedelta(days=1, hours=1)
    async with sessions() as session:
        assert await expired_patients(session, last + YEAR, YEAR) == []
        later = last + YEAR + timedelta(minutes=1)
        assert await expired_patients(session, later, YEAR) == [owner.patient_id]
        both = T0 + timedelta(days=60) + YEAR + timedelta(minutes=1)
        assert await expired_patients(session, both, YEAR) == sorted(
            [owner.patient_id, recent.patient_id]
        )


async def test_a_patient_without_treatment_expires_from_when_they_first_wrote(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:
        session.add(Patient(chat_id=3003, created_at=T0))
        await session.commit()
    async with sessions() as session:
        assert await expired_patients(session, T0 + YEAR, YEAR) == []
        [found] = await expired_patients(session, T0 + YEAR + timedelta(seconds=1), YEAR)
        assert (await session.get(Patient, found)) is not None


async def test_purge_forgets_the_expired_and_keeps_the_rest(
    sessions: SessionFactory, owner: Owner
) -> None:
    await give_history(sessions, owner, "Old")
    recent = await add_owner(sessions, chat_id=2002)
    async with sessions() as session:
        treatment = await session.get(Treatment, recent.treatment_id)
        assert treatment is not None
        treatment.treated_at = T0 + timedelta(days=300)
        session.add(treatment)
        await session.commit()

    total = await purge_expired(sessions, T0 + YEAR + timedelta(days=2), YEAR)

    assert total.patients == 1
    assert total.reminders == 2
    async with sessions() as session:
        left = (await session.exec(select(Patient.id).order_by(col(Patient.id)))).all()
    assert left == [recent.patient_id]
