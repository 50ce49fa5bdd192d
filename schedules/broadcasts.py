"""Broadcasts: one message from a clinic to a segment of its patients, delivered row by row.

A broadcast is a ``broadcast`` row (draft → sending → done, or cancelled) and, once
confirmed, one ``broadcastdelivery`` row per recipient, filled by a single
``INSERT ... SELECT``. The delivery rows are an outbox of their own, worked like the
reminder outbox: claimed in small batches with a lease (``FOR UPDATE SKIP LOCKED`` on
Postgres), each outcome written in its own transaction, a lapsed claim claimable again.
A pending row's ``claimed_until`` is its "not before" (a retry after a 5xx or a 429).

Segments (who receives it) are in ``segments.py``; delivering the rows in
``deliveries.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from schedules.errors import AftercareError
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
)
from schedules.outbound import Lane, Outbound
from schedules.segments import Segment, recipients, segment_from_json, segment_json

TEXT_LIMIT = 4096  # Telegram's limit for a message
CAPTION_LIMIT = 1024  # ... and for a photo's caption
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
# broadcast.segment["kind"] of the segments here (None: not chosen yet).
_COMPOSED = (None, "all", "recent", "protocol", "course")


class BroadcastError(AftercareError):
    """A broadcast that cannot be created as asked (empty, too long)."""


# -- the broadcast's life ---------------------------------------------------------------------


def check_content(text: str, photo_file_id: str | None) -> None:
    """Refuse what Telegram would: nothing at all, or too long for a message or caption."""
    if not text.strip() and photo_file_id is None:
        raise BroadcastError("a broadcast needs a text or a photo")
    limit = CAPTION_LIMIT if photo_file_id is not None else TEXT_LIMIT
    if len(text) > limit:
        what = "a photo's caption" if photo_file_id is not None else "a message"
        raise BroadcastError(f"{what} can be at most {limit} characters, not {len(text)}")


async def create_draft(
    session: AsyncSession,
    *,
    clinic_id: int,
    now: datetime,
    text: str = "",
    photo_file_id: str | None = None,
    segment: Segment | None = None,
    created_by: int | None = None,
) -> Broadcast:
    """A new draft; its text may be empty while the chat waits for the staff's message."""
    if text or photo_file_id is not None:
        check_content(text, photo_file_id)
    draft = Broadcast(
        clinic_id=clinic_id,
        created_by=created_by,
        text=text,
        photo_file_id=photo_file_id,
        segment=segment_json(segment) if segment is not None else {},
        status=BroadcastStatus.DRAFT,
        created_at=now,
    )
    session.add(draft)
    await session.commit()
    await session.refresh(draft)
    return draft


async def confirm(
    session: AsyncSession,
    broadcast_id: int,
    now: datetime,
    *,
    include_unassigned: bool = False,
    progress: tuple[int, int] | None = None,
) -> int | None:
    """Start sending a draft: one delivery row per recipient, status ``sending``; commits.

    Idempotent: only the first call (a compare-and-set on ``draft``) fills the rows and
    returns their number; any later or concurrent call returns None and changes nothing.
    ``progress`` is the (chat id, message id) of the live progress message, if any.
    """
    draft = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if draft is None or draft.status != BroadcastStatus.DRAFT or not draft.segment:
        return None
    check_content(draft.text, draft.photo_file_id)
    segment = segment_from_json(draft.segment)
    chat_id, message_id = progress if progress is not None else (None, None)
    started = await session.exec(
        sa.update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(
            status=BroadcastStatus.SENDING,
            confirmed_at=now,
            progress_chat_id=chat_id,
            progress_message_id=message_id,
        )
    )
    if started.rowcount != 1:
        await session.rollback()
        return None
    who = recipients(draft.clinic_id, segment, now, include_unassigned=include_unassigned)
    await session.exec(_insert_deliveries(session, _fill_from(who, broadcast_id)))
    await session.commit()
    return await _count(session, broadcast_id)


def _fill_from(who: SelectOfScalar[int | None], broadcast_id: int) -> sa.Select[Any]:
    """The recipients, as the columns of new delivery rows (in patient id order)."""
    chosen = who.subquery()
    return (
        sa.select(
            chosen.c.id,
            sa.literal(broadcast_id, sa.Integer),
            sa.literal(DeliveryStatus.PENDING.value, sa.String),
            sa.literal(0, sa.Integer),
        )
        .where(sa.true())  # SQLite: INSERT ... SELECT ... ON CONFLICT wants a WHERE
        .order_by(chosen.c.id)
    )


_COLUMNS = ["patient_id", "broadcast_id", "status", "attempts"]


def _insert_deliveries(session: AsyncSession, rows: sa.Select[Any]) -> sa.Insert:
    dialect = session.bind.dialect.name if session.bind is not None else ""
    keys = ["broadcast_id", "patient_id"]
    if dialect == "postgresql":
        return (
            pg_insert(BroadcastDelivery)
            .from_select(_COLUMNS, rows)
            .on_conflict_do_nothing(index_elements=keys)
        )
    if dialect == "sqlite":
        return (
            sqlite_insert(BroadcastDelivery)
            .from_select(_COLUMNS, rows)
            .on_conflict_do_nothing(index_elements=keys)
        )
    return sa.insert(BroadcastDelivery).from_select(_COLUMNS, rows)


async def _count(session: AsyncSession, broadcast_id: int) -> int:
    counted = await session.exec(
        select(sa.func.count()).where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
    )
    return int(counted.one())


async def cancel(
    session: AsyncSession, broadcast_id: int, now: datetime, *, drafts_only: bool = False
) -> bool:
    """Stop a draft or a broadcast being sent: its pending deliveries are cancelled; commits.

    False if it had already finished or been cancelled (or, with ``drafts_only``, was no
    longer a draft). Deliveries claimed at this moment finish as cancelled when their turn
    comes (the sender reads the status before each send); one already handed to Telegram
    still arrives.
    """
    current = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if current is None:
        return False
    was = current.status
    stoppable = (
        [BroadcastStatus.DRAFT] if drafts_only else [BroadcastStatus.DRAFT, BroadcastStatus.SENDING]
    )
    # A draft has nothing left to deliver: it is finished at once.
    finished_at = now if was == BroadcastStatus.DRAFT else None
    stopped = await session.exec(
        sa.update(Broadcast)
        .where(
            col(Broadcast.id) == broadcast_id,
            col(Broadcast.status) == was,
            col(Broadcast.status).in_(stoppable),
        )
        .values(status=BroadcastStatus.CANCELLED, finished_at=finished_at)
    )
    if stopped.rowcount != 1:
        await session.rollback()
        return False
    await _cancel_pending(session, broadcast_id)
    await session.commit()
    return True


async def _cancel_pending(session: AsyncSession, broadcast_id: int) -> int:
    result = await session.exec(
        sa.update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.broadcast_id) == broadcast_id,
            col(BroadcastDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, claimed_until=None, last_error="cancelled")
    )
    return int(result.rowcount)


async def set_content(
    session: AsyncSession, broadcast_id: int, text: str, photo_file_id: str | None
) -> bool:
    """Fill a draft's message (the staff's next text or photo); False if not a draft."""
    check_content(text, photo_file_id)
    result = await session.exec(
        sa.update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(text=text, photo_file_id=photo_file_id)
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def set_segment(session: AsyncSession, broadcast_id: int, segment: Segment) -> bool:
    """Choose (or change) a draft's segment; False if it is not a draft any more."""
    result = await session.exec(
        sa.update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(segment=segment_json(segment))
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def awaiting_content(
    session: AsyncSession, staff_ids: Sequence[int], since: datetime
) -> Broadcast | None:
    """The newest draft of these staff memberships still waiting for its message."""
    if not staff_ids:
        return None
    found = await session.exec(
        select(Broadcast)
        .where(
            col(Broadcast.created_by).in_(list(staff_ids)),
            col(Broadcast.status) == BroadcastStatus.DRAFT,
            col(Broadcast.text) == "",
            col(Broadcast.photo_file_id).is_(None),
            col(Broadcast.created_at) >= since,
        )
        .order_by(col(Broadcast.id).desc())
    )
    return found.first()


async def drop_drafts(session: AsyncSession, staff_id: int, now: datetime) -> int:
    """Cancel a staff member's unsent /broadcast drafts (they start a new one); commits.

    Drafts other code keeps (a protocol change note being filled) are left alone.
    """
    drafts = await session.exec(
        select(Broadcast).where(
            col(Broadcast.created_by) == staff_id, col(Broadcast.status) == BroadcastStatus.DRAFT
        )
    )
    ids = [d.id for d in drafts.all() if d.segment.get("kind") in _COMPOSED and d.id is not None]
    if not ids:
        return 0
    result = await session.exec(
        sa.update(Broadcast)
        .where(col(Broadcast.id).in_(ids), col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.CANCELLED, finished_at=now)
    )
    await session.commit()
    return int(result.rowcount)


def outbound_for(broadcast: Broadcast, chat_id: int) -> Outbound:
    """The message exactly as a recipient gets it (the staff preview uses it too)."""
    return Outbound(
        chat_id=chat_id, text=broadcast.text, photo=broadcast.photo_file_id, lane=Lane.BULK
    )


# -- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How far a broadcast's deliveries have come."""

    pending: int = 0
    claimed: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.open + self.sent + self.blocked + self.failed + self.skipped + self.cancelled

    @property
    def open(self) -> int:
        return self.pending + self.claimed

    @property
    def handled(self) -> int:
        return self.total - self.open


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    rows = await session.exec(
        select(col(BroadcastDelivery.status), sa.func.count())
        .where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
        .group_by(col(BroadcastDelivery.status))
    )
    counts = {str(status): int(n) for status, n in rows.all()}
    return Progress(**{s.value: counts.get(s.value, 0) for s in DeliveryStatus})
