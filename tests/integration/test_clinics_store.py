"""Clinics, invites and teams on SQLite and Postgres: an invite makes exactly one person
staff however many open it at once, and a clinic never loses its last owner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select

from schedules.clinics import ClinicError, create_clinic, enrol_patient, list_clinics
from schedules.db import SessionFactory
from schedules.models import Clinic, Patient, Staff, StaffRole, Treatment
from schedules.team import create_invite, list_staff, redeem_invite, remove_staff, staff_chats
from tests.integration.conftest import T0, Owner

PEOPLE = range(5001, 5011)


async def clinic(sessions: SessionFactory, name: str = "Glow Clinic", **extra: str) -> Clinic:
    async with sessions() as session:
        return await create_clinic(
            session,
            name=name,
            timezone="Europe/Madrid",
            phone="+34 910 000 000",
            emergency_number="112",
            now=T0,
            **extra,  # type: ignore[arg-type]
        )


async def invite(sessions: SessionFactory, where: Clinic, role: StaffRole = StaffRole.STAFF) -> str:
    assert where.id is not None
    async with sessions() as session:
        return (await create_invite(session, where.id, role, None, T0)).code


async def redeem(sessions: SessionFactory, code: str, user_id: int, at: object = T0) -> bool:
    async with sessions() as session:
        return await redeem_invite(session, code, user_id, at) is not None  # type: ignore[arg-type]


async def team(sessions: SessionFactory, where: Clinic) -> list[Staff]:
    async with sessions() as session:
        return await list_staff(session, where.id or 0)


async def test_an_invite_makes_exactly_one_person_staff_when_many_open_it_at_once(
    sessions: SessionFactory,
) -> None:
    glow = await clinic(sessions)
    code = await invite(sessions, glow)
    won = await asyncio.gather(*(redeem(sessions, code, person) for person in PEOPLE))
    assert sum(won) == 1
    [member] = await team(sessions, glow)
    assert member.user_id == list(PEOPLE)[won.index(True)]
    assert member.role == StaffRole.STAFF


async def test_an_invite_is_refused_once_used_or_expired_or_unknown(
    sessions: SessionFactory,
) -> None:
    glow = await clinic(sessions)
    used, late = await invite(sessions, glow), await invite(sessions, glow)
    assert await redeem(sessions, used, 5001)
    assert not await redeem(sessions, used, 5002)
    assert not await redeem(sessions, used, 5001)
    assert not await redeem(sessions, late, 5003, T0 + timedelta(days=7))
    assert not await redeem(sessions, "0" * 24, 5004)
    assert [m.user_id for m in await team(sessions, glow)] == [5001]


async def test_an_owner_invite_makes_an_owner_and_a_staff_invite_never_demotes_one(
    sessions: SessionFactory,
) -> None:
    glow = await clinic(sessions)
    assert await redeem(sessions, await invite(sessions, glow, StaffRole.OWNER), 5001)
    assert await redeem(sessions, await invite(sessions, glow, StaffRole.STAFF), 5001)
    assert [(m.user_id, m.role) for m in await team(sessions, glow)] == [(5001, StaffRole.OWNER)]


async def test_owners_remove_members_but_never_the_last_owner(sessions: SessionFactory) -> None:
    glow, bright = await clinic(sessions), await clinic(sessions, "Bright Skin")
    for user_id, role, where in (
        (5001, StaffRole.OWNER, glow),
        (5002, StaffRole.STAFF, glow),
        (5101, StaffRole.OWNER, bright),
    ):
        assert await redeem(sessions, await invite(sessions, where, role), user_id)
    owner, nurse = await team(sessions, glow)
    [other_owner] = await team(sessions, bright)
    assert owner.id is not None
    assert nurse.id is not None
    assert other_owner.id is not None
    async with sessions() as session:
        assert not await remove_staff(session, glow.id or 0, owner.id, nurse.id)  # not an owner
        assert not await remove_staff(session, glow.id or 0, nurse.id, other_owner.id)
        assert not await remove_staff(session, bright.id or 0, nurse.id, other_owner.id)
        assert not await remove_staff(session, glow.id or 0, owner.id, owner.id)  # the last one
        assert await remove_staff(session, glow.id or 0, nurse.id, owner.id)
        assert not await remove_staff(session, glow.id or 0, nurse.id, owner.id)  # already gone
        assert await staff_chats(session, glow.id) == [5001]


async def test_two_owners_removing_each_other_at_once_leave_one(sessions: SessionFactory) -> None:
    glow = await clinic(sessions)
    for user_id in (5001, 5002):
        assert await redeem(sessions, await invite(sessions, glow, StaffRole.OWNER), user_id)
    first, second = await team(sessions, glow)

    async def remove(target: Staff, by: Staff) -> bool:
        async with sessions() as session:
            return await remove_staff(session, glow.id or 0, target.id or 0, by.id or 0)

    done = await asyncio.gather(remove(first, second), remove(second, first))
    assert sorted(done) == [False, True]
    [left] = await team(sessions, glow)
    assert left.role == StaffRole.OWNER


async def test_clinics_get_unique_slugs_and_their_own_patient_codes(
    sessions: SessionFactory,
) -> None:
    first = await clinic(sessions, "Glow Clínic")
    second = await clinic(sessions, "Glow Clínic")
    assert (first.slug, second.slug) == ("glow-clinic", "glow-clinic-2")
    assert first.patient_code != second.patient_code
    assert len(first.patient_code or "") == 16
    with pytest.raises(ClinicError, match="already exists"):
        await clinic(sessions, "Other", slug="glow-clinic")
    async with sessions() as session:
        with pytest.raises(ClinicError, match="unknown timezone"):
            await create_clinic(
                session, name="X", timezone="Mars/Olympus", phone=None, emergency_number=None,
                now=T0,
            )  # fmt: skip


async def test_a_patient_moves_clinic_only_without_a_treatment(
    sessions: SessionFactory, owner: Owner
) -> None:
    glow, bright = await clinic(sessions), await clinic(sessions, "Bright Skin")
    async with sessions() as session:
        patient = await session.get(Patient, owner.patient_id)
        assert patient is not None
        assert (await enrol_patient(session, patient, glow.patient_code or "")).clinic == glow
        kept = await enrol_patient(session, patient, bright.patient_code or "")
        assert (kept.clinic, kept.refused) == (glow, bright)
        assert (await enrol_patient(session, patient, "nothing")).clinic is None
        treatment = await session.get(Treatment, owner.treatment_id)
        assert treatment is not None
        treatment.active = False
        session.add(treatment)
        await session.commit()
        moved = await enrol_patient(session, patient, bright.patient_code or "")
        assert (moved.clinic, moved.refused) == (bright, None)
        stored = (
            await session.exec(select(Patient).where(col(Patient.id) == owner.patient_id))
        ).one()
        assert stored.clinic_id == bright.id


async def test_the_list_counts_patients_and_active_staff(
    sessions: SessionFactory, owner: Owner
) -> None:
    glow, bright = await clinic(sessions), await clinic(sessions, "Bright Skin")
    assert await redeem(sessions, await invite(sessions, glow, StaffRole.OWNER), 5001)
    async with sessions() as session:
        patient = await session.get(Patient, owner.patient_id)
        assert patient is not None
        await enrol_patient(session, patient, bright.patient_code or "")
        session.add(Patient(chat_id=1002, created_at=T0))  # at no clinic: the default's
        await session.commit()
        listed = await list_clinics(session, default_slug=glow.slug)
    assert [(item.clinic.slug, item.patients, item.staff) for item in listed] == [
        ("bright-skin", 1, 0),
        ("glow-clinic", 1, 1),
    ]
