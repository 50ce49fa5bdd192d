"""Clinics and their staff: who a patient belongs to, and who hears about escalations.

Until enrolment links exist, every patient belongs to the one clinic the operator
configures (``AFTERCARE_CLINIC_*``); staff join it by sending ``/staff <code>``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import Clinic, Patient, Staff, StaffRole


@dataclass(frozen=True)
class ClinicConfig:
    slug: str
    name: str
    timezone: str = "UTC"
    phone: str | None = None
    emergency_number: str | None = None
    staff_code: str | None = None


def new_staff_code() -> str:
    return secrets.token_urlsafe(9)


async def ensure_clinic(session: AsyncSession, config: ClinicConfig, now: datetime) -> Clinic:
    """The configured clinic, created on first start and updated from the config after.

    A configured staff code wins; with none configured, the first start makes one.
    """
    clinic = await clinic_by_slug(session, config.slug)
    if clinic is None:
        clinic = Clinic(slug=config.slug, name=config.name, created_at=now)
    clinic.name, clinic.timezone = config.name, config.timezone
    clinic.phone, clinic.emergency_number = config.phone, config.emergency_number
    clinic.staff_code = config.staff_code or clinic.staff_code or new_staff_code()
    session.add(clinic)
    await session.commit()
    await session.refresh(clinic)
    return clinic


async def clinic_by_slug(session: AsyncSession, slug: str) -> Clinic | None:
    return (await session.exec(select(Clinic).where(col(Clinic.slug) == slug))).first()


async def clinic_of(session: AsyncSession, patient: Patient, default_slug: str) -> Clinic | None:
    if patient.clinic_id is not None:
        return await session.get(Clinic, patient.clinic_id)
    return await clinic_by_slug(session, default_slug)


async def join_as_staff(
    session: AsyncSession, code: str, user_id: int, now: datetime
) -> Clinic | None:
    """Make ``user_id`` staff of the clinic whose code this is; None for a wrong code.

    The first member becomes the owner. Joining again is harmless.
    """
    clinic = (
        await session.exec(select(Clinic).where(col(Clinic.staff_code) == code.strip()))
    ).first()
    if clinic is None or clinic.id is None or not code.strip():
        return None
    member = await staff_member(session, clinic.id, user_id)
    if member is None:
        has_owner = (
            await session.exec(select(Staff).where(col(Staff.clinic_id) == clinic.id))
        ).first()
        role = StaffRole.STAFF if has_owner else StaffRole.OWNER
        member = Staff(clinic_id=clinic.id, user_id=user_id, role=role, created_at=now)
    member.active = True
    session.add(member)
    await session.commit()
    return clinic


async def staff_member(session: AsyncSession, clinic_id: int, user_id: int) -> Staff | None:
    return (
        await session.exec(
            select(Staff).where(col(Staff.clinic_id) == clinic_id, col(Staff.user_id) == user_id)
        )
    ).first()


async def staff_by_user(session: AsyncSession, user_id: int) -> Staff | None:
    """The active staff membership of this Telegram user (the first, if several)."""
    return (
        await session.exec(
            select(Staff)
            .where(col(Staff.user_id) == user_id, col(Staff.active))
            .order_by(col(Staff.id))
        )
    ).first()


async def staff_chats(session: AsyncSession, clinic_id: int | None) -> list[int]:
    """Where a clinic's alerts go: each active staff member's private chat."""
    if clinic_id is None:
        return []
    rows = await session.exec(
        select(Staff.user_id).where(col(Staff.clinic_id) == clinic_id, col(Staff.active))
    )
    return sorted(rows.all())
