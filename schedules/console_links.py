"""Sign-in links to the web console: made for one staff member, used once, soon expired.

The link carries a random secret; the table keeps its SHA-256, so a copy of the database
cannot sign anyone in. Redeeming is one conditional UPDATE, so two clicks (or two
processes) cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import ConsoleLink, Staff

LINK_LIFETIME = timedelta(minutes=10)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_link(
    session: AsyncSession, staff_id: int, now: datetime, lifetime: timedelta = LINK_LIFETIME
) -> str:
    """A new link secret for ``staff_id`` (to put in the URL); commits."""
    secret = secrets.token_urlsafe(24)
    session.add(
        ConsoleLink(
            staff_id=staff_id, secret_hash=_hash(secret), created_at=now, expires_at=now + lifetime
        )
    )
    await session.commit()
    return secret


async def redeem_link(session: AsyncSession, secret: str, now: datetime) -> Staff | None:
    """The active staff member the link was made for, if it is unused and unexpired; the
    link is used up either way it succeeds. None for an unknown, used or expired link."""
    used = await session.exec(
        sa.update(ConsoleLink)
        .where(
            col(ConsoleLink.secret_hash) == _hash(secret),
            col(ConsoleLink.used_at).is_(None),
            col(ConsoleLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(ConsoleLink.staff_id))
    )
    staff_id = used.scalar_one_or_none()
    await session.commit()
    if staff_id is None:
        return None
    staff = await session.get(Staff, staff_id)
    return staff if staff is not None and staff.active else None
