"""A clinic's team: joining with the clinic's code or a single-use invite, the members,
removing one (never the last owner), and where the clinic's alerts go."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import Clinic, Invite, Staff, StaffRole

INVITE_TTL = timedelta(days=7)
CLINIC_PREFIX = "c-"
INVITE_PREFIX = "i-"
MAX_PAYLOAD = 64  # Telegram's limit for a ?start= parameter
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_DERIVED_SLUG = 48


# -- members ------------------------------------------------------------------------------------


async def join_as_staff(
    session: AsyncSession, code: str, user_id: int, now: datetime
) -> Clinic | None:
    """Make ``user_id`` staff of the clinic whose code this is; None for a wrong code, or
    for a member an owner removed (only an invite brings them back).

    The first member becomes the owner. Joining again is harmless.
    """
    clinic = (
        await session.exec(select(Clinic).where(col(Clinic.staff_code) == code.strip()))
    ).first()
    if clinic is None or clinic.id is None or not code.strip():
        return None
    member = await staff_member(session, clinic.id, user_id)
    if member is not None and not member.active:
        return None
    if member is None:
        role = StaffRole.STAFF if await _owner_count(session, clinic.id) else StaffRole.OWNER
        session.add(Staff(clinic_id=clinic.id, user_id=user_id, role=role, created_at=now))
        await session.commit()
    return clinic


async def _add_member(
    session: AsyncSession, clinic_id: int, user_id: int, role: StaffRole, now: datetime
) -> None:
    """Add a member, or bring a removed one back, as ``role``; an active owner stays one."""
    member = await staff_member(session, clinic_id, user_id)
    if member is None:
        member = Staff(clinic_id=clinic_id, user_id=user_id, role=role, created_at=now)
    elif not member.active or role == StaffRole.OWNER:
        member.role = role
    member.active = True
    session.add(member)


async def create_invite(
    session: AsyncSession,
    clinic_id: int,
    role: StaffRole,
    created_by: int | None,
    now: datetime,
    ttl: timedelta = INVITE_TTL,
) -> Invite:
    """A single-use invite to ``clinic_id`` as ``role``, valid for ``ttl``."""
    invite = Invite(
        clinic_id=clinic_id,
        code=secrets.token_hex(12),
        role=role,
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.commit()
    await session.refresh(invite)
    return invite


async def redeem_invite(
    session: AsyncSession, code: str, user_id: int, now: datetime
) -> Clinic | None:
    """Make ``user_id`` staff (or owner) of the invite's clinic; None if the code is
    unknown, expired or already used.

    Single use by compare-and-set: only the update that finds ``used_at`` still empty
    wins, and the membership is written in the same transaction.
    """
    claimed = await session.exec(
        sa.update(Invite)
        .where(
            col(Invite.code) == code,
            col(Invite.used_at).is_(None),
            col(Invite.expires_at) > now,
        )
        .values(used_at=now, used_by=user_id)
        .returning(col(Invite.clinic_id), col(Invite.role))
    )
    row = claimed.first()
    clinic = await session.get(Clinic, row[0]) if row is not None else None
    if row is None or clinic is None or not clinic.active:
        await session.rollback()
        return None
    await _add_member(session, row[0], user_id, StaffRole(row[1]), now)
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


async def list_staff(session: AsyncSession, clinic_id: int) -> list[Staff]:
    """A clinic's active members, owners first, then by joining order."""
    rows = await session.exec(
        select(Staff)
        .where(col(Staff.clinic_id) == clinic_id, col(Staff.active))
        .order_by(col(Staff.role) != StaffRole.OWNER, col(Staff.id))
    )
    return list(rows.all())


async def remove_staff(session: AsyncSession, clinic_id: int, staff_id: int, by_owner: int) -> bool:
    """``by_owner`` (a staff id) takes ``staff_id`` off the clinic's team; False if they
    are not an active owner of this clinic, the member is not on it, or it is its last owner.

    The clinic row is locked first (Postgres), so two owners removing each other at once
    cannot leave it without one; on SQLite the single update is atomic on its own.
    """
    actor = await session.get(Staff, by_owner)
    if actor is None or actor.clinic_id != clinic_id or not actor.active:
        return False
    if actor.role != StaffRole.OWNER:
        return False
    await session.exec(select(Clinic.id).where(col(Clinic.id) == clinic_id).with_for_update())
    owners = (
        select(func.count())
        .select_from(Staff)
        .where(
            col(Staff.clinic_id) == clinic_id,
            col(Staff.role) == StaffRole.OWNER,
            col(Staff.active),
        )
        .scalar_subquery()
    )
    removed = await session.exec(
        sa.update(Staff)
        .where(
            col(Staff.id) == staff_id,
            col(Staff.clinic_id) == clinic_id,
            col(Staff.active),
            sa.or_(col(Staff.role) != StaffRole.OWNER, owners > 1),
        )
        .values(active=False)
    )
    await session.commit()
    return bool(removed.rowcount == 1)


async def _owner_count(session: AsyncSession, clinic_id: int) -> int:
    found = await session.exec(
        select(func.count())
        .select_from(Staff)
        .where(
            col(Staff.clinic_id) == clinic_id,
            col(Staff.role) == StaffRole.OWNER,
            col(Staff.active),
        )
    )
    return int(found.one())


async def staff_chats(session: AsyncSession, clinic_id: int | None) -> list[int]:
    """Where a clinic's alerts go: each active staff member's private chat."""
    if clinic_id is None:
        return []
    rows = await session.exec(
        select(Staff.user_id).where(col(Staff.clinic_id) == clinic_id, col(Staff.active))
    )
    return sorted(rows.all())
