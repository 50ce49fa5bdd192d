"""Broadcasts: one message from a clinic to a segment of its patients, delivered row by row.

A broadcast is a ``broadcast`` row (draft → sending → done, or cancelled) and, once
confirmed, one ``broadcastdelivery`` row per recipient, filled by a single
``INSERT ... SELECT``. The delivery rows are an outbox of their own, worked like the
reminder outbox: claimed in small batches with a lease (``FOR UPDATE SKIP LOCKED`` on
Postgres), each outcome written in its own transaction, a lapsed claim claimable again.
A pending row's ``claimed_until`` is its "not before" (a retry after a 5xx or a 429).

Segments, as typed (CLI) and as stored (``broadcast.segment`` JSON):

=========================  =========================================  ====================
text                       JSON                                       recipients
=========================  =========================================  ====================
``all``                    ``{"kind": "all"}``                        every active patient
``recent:<days>``          ``{"kind": "recent", "days": 7}``          treated in the last N days
``protocol:<slug>``        ``{"kind": "protocol", "slug": "..."}``    current treatment on it
``course:<id>[:<n>]``      ``{"kind": "course", "course": "collagen",  current treatment in that
                           "session": 2}``                            course (and session n)
=========================  =========================================  ====================

Recipients are always the broadcast clinic's patients whose status is ``active`` when the
broadcast is confirmed; a patient who stops or becomes unreachable afterwards is skipped
when their turn comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from schedules import store
from schedules.errors import AftercareError
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
    Patient,
    PatientStatus,
    Protocol,
    Treatment,
)
from schedules.outbound import Outbound

TEXT_LIMIT = 4096  # Telegram's limit for a message
CAPTION_LIMIT = 1024  # ... and for a photo's caption
MAX_RECENT_DAYS = 3650
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
# broadcast.segment["kind"] of the segments here (None: not chosen yet).
_COMPOSED = (None, "all", "recent", "protocol", "course")


class SegmentError(AftercareError):
    """A segment that cannot be parsed or is out of range."""


class BroadcastError(AftercareError):
    """A broadcast that cannot be created as asked (empty, too long)."""


# -- segments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Everyone:
    def as_text(self) -> str:
        return "all"


@dataclass(frozen=True)
class Recent:
    days: int

    def as_text(self) -> str:
        return f"recent:{self.days}"


@dataclass(frozen=True)
class OnProtocol:
    slug: str

    def as_text(self) -> str:
        return f"protocol:{self.slug}"


@dataclass(frozen=True)
class InCourse:
    course: str
    session: int | None = None

    def as_text(self) -> str:
        return f"course:{self.course}" + (f":{self.session}" if self.session else "")


Segment = Everyone | Recent | OnProtocol | InCourse


def parse_segment(text: str) -> Segment:
    """``all``, ``recent:<days>``, ``protocol:<slug>``, ``course:<id>[:<session>]``."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.lower()
    if kind == "all" and not rest:
        return Everyone()
    if kind == "recent":
        return Recent(_positive(rest, "recent:<days>", maximum=MAX_RECENT_DAYS))
    if kind == "protocol" and _is_name(rest):
        return OnProtocol(rest)
    if kind == "course":
        course, _, session = rest.partition(":")
        if _is_name(course):
            return InCourse(
                course, _positive(session, "course:<id>:<session>") if session else None
            )
    raise SegmentError(
        f"unknown segment {text!r}; use all, recent:<days>, protocol:<slug> "
        "or course:<course>[:<session>]"
    )


def segment_json(segment: Segment) -> dict[str, Any]:
    match segment:
        case Everyone():
            return {"kind": "all"}
        case Recent(days=days):
            return {"kind": "recent", "days": days}
        case OnProtocol(slug=slug):
            return {"kind": "protocol", "slug": slug}
        case InCourse(course=course, session=session):
            return {"kind": "course", "course": course, "session": session}
    raise AssertionError(segment)


def segment_from_json(data: dict[str, Any]) -> Segment:
    """The stored form back; an unknown or damaged one is a SegmentError."""
    kind = data.get("kind")
    try:
        if kind == "all":
            return Everyone()
        if kind == "recent":
            return parse_segment(f"recent:{int(data['days'])}")
        if kind == "protocol":
            return parse_segment(f"protocol:{data['slug']}")
        if kind == "course":
            session = data.get("session")
            return parse_segment(f"course:{data['course']}" + (f":{session}" if session else ""))
    except (KeyError, TypeError, ValueError) as error:
        raise SegmentError(f"damaged segment {data!r}") from error
    raise SegmentError(f"damaged segment {data!r}")


def _positive(text: str, shape: str, maximum: int = 10_000) -> int:
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise SegmentError(f"{shape} needs a whole number from 1 to {maximum}, not {text!r}")
    return int(text)


def _is_name(text: str) -> bool:
    return bool(text) and len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text)


# -- who receives it --------------------------------------------------------------------------


def recipients(
    clinic_id: int, segment: Segment, now: datetime, *, include_unassigned: bool = False
) -> SelectOfScalar[int | None]:
    """The ids of the patients a segment reaches now, in id order.

    Only the clinic's active patients; ``include_unassigned`` adds patients with no clinic,
    who belong to the operator's default clinic (from before enrolment links).
    """
    mine = col(Patient.clinic_id) == clinic_id
    if include_unassigned:
        mine = sa.or_(mine, col(Patient.clinic_id).is_(None))
    query = select(col(Patient.id)).where(mine, col(Patient.status) == PatientStatus.ACTIVE)
    treated = (
        select(sa.literal(1))
        .select_from(Treatment)
        .where(col(Treatment.patient_id) == col(Patient.id))
    )
    match segment:
        case Everyone():
            pass
        case Recent(days=days):
            query = query.where(
                treated.where(col(Treatment.treated_at) >= now - timedelta(days=days)).exists()
            )
        case OnProtocol(slug=slug):
            on_it = treated.join(Protocol, col(Protocol.id) == col(Treatment.protocol_id)).where(
                col(Treatment.active), col(Protocol.slug) == slug
            )
            query = query.where(on_it.exists())
        case InCourse(course=course, session=session):
            in_it = treated.where(col(Treatment.active), col(Treatment.course) == course)
            if session is not None:
                in_it = in_it.where(col(Treatment.course_number) == session)
            query = query.where(in_it.exists())
    return query.order_by(col(Patient.id))


async def count_recipients(
    session: AsyncSession,
    clinic_id: int,
    segment: Segment,
    now: datetime,
    *,
    include_unassigned: bool = False,
) -> int:
    query = recipients(clinic_id, segment, now, include_unassigned=include_unassigned)
    counted = await session.exec(select(sa.func.count()).select_from(query.subquery()))
    return int(counted.one())


async def segment_choices(
    session: AsyncSession, clinic_id: int, *, include_unassigned: bool = False
) -> tuple[list[str], list[tuple[str, int]]]:
    """The protocols and (course, session) pairs the clinic's active patients are on now."""
    mine = col(Patient.clinic_id) == clinic_id
    if include_unassigned:
        mine = sa.or_(mine, col(Patient.clinic_id).is_(None))
    current = (
        select(col(Protocol.slug), col(Treatment.course), col(Treatment.course_number))
        .select_from(Patient)
        .join(Treatment, col(Treatment.patient_id) == col(Patient.id))
        .join(Protocol, col(Protocol.id) == col(Treatment.protocol_id))
        .where(mine, col(Patient.status) == PatientStatus.ACTIVE, col(Treatment.active))
        .distinct()
    )
    rows = (await session.exec(current)).all()
    slugs = sorted({slug for slug, _course, _number in rows})
    courses = sorted({(course, number) for _slug, course, number in rows})
    return slugs, courses


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
    return Outbound(chat_id=chat_id, text=broadcast.text, photo=broadcast.photo_file_id)


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


# -- delivering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One claimed delivery, with what sending it needs (read afresh before the send)."""

    delivery_id: int
    broadcast_id: int
    patient_id: int
    attempts: int


async def claim_deliveries(
    session: AsyncSession, *, now: datetime, worker: str, lease: timedelta, limit: int
) -> list[Recipient]:
    """Claim up to ``limit`` due deliveries of broadcasts being sent (oldest first); commits.

    Lapsed claims (their process died) first go back to pending, as in the reminder outbox.
    """
    await session.exec(
        sa.update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.status) == DeliveryStatus.CLAIMED,
            col(BroadcastDelivery.claimed_until) < now,
        )
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_until=None)
    )
    due = (
        col(BroadcastDelivery.status) == DeliveryStatus.PENDING,
        sa.or_(
            col(BroadcastDelivery.claimed_until).is_(None),
            col(BroadcastDelivery.claimed_until) <= now,
        ),
    )
    pick = (
        sa.select(col(BroadcastDelivery.id))
        .join(Broadcast, col(Broadcast.id) == col(BroadcastDelivery.broadcast_id))
        .where(col(Broadcast.status) == BroadcastStatus.SENDING, *due)
        .order_by(col(BroadcastDelivery.id))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=BroadcastDelivery)
    claimed = await session.exec(
        sa.update(BroadcastDelivery)
        .where(col(BroadcastDelivery.id).in_(pick.scalar_subquery()), *due)
        .values(status=DeliveryStatus.CLAIMED, claimed_by=worker, claimed_until=now + lease)
        .returning(
            col(BroadcastDelivery.id),
            col(BroadcastDelivery.broadcast_id),
            col(BroadcastDelivery.patient_id),
            col(BroadcastDelivery.attempts),
        )
    )
    found = [Recipient(*row) for row in claimed.all()]
    await session.commit()
    return sorted(found, key=lambda r: r.delivery_id)


@dataclass(frozen=True)
class Target:
    """A recipient's chat and whether the message should still go: read just before sending."""

    chat_id: int | None
    patient_status: PatientStatus | None
    broadcast_status: BroadcastStatus | None


async def target(session: AsyncSession, recipient: Recipient) -> Target:
    broadcast_status = (
        select(col(Broadcast.status))
        .where(col(Broadcast.id) == recipient.broadcast_id)
        .scalar_subquery()
    )
    found = (
        await session.exec(
            select(col(Patient.chat_id), col(Patient.status), broadcast_status).where(
                col(Patient.id) == recipient.patient_id
            )
        )
    ).first()
    if found is None:
        status = (
            await session.exec(
                select(col(Broadcast.status)).where(col(Broadcast.id) == recipient.broadcast_id)
            )
        ).first()
        return Target(None, None, BroadcastStatus(status) if status else None)
    chat_id, patient_status, status = found
    return Target(
        chat_id=chat_id,
        patient_status=PatientStatus(patient_status),
        broadcast_status=BroadcastStatus(status) if status else None,
    )


async def _finish(session: AsyncSession, delivery_id: int, worker: str, **values: object) -> bool:
    """Update a delivery this worker still holds, in its own transaction; False if lost."""
    result = await session.exec(
        sa.update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.id) == delivery_id,
            col(BroadcastDelivery.status) == DeliveryStatus.CLAIMED,
            col(BroadcastDelivery.claimed_by) == worker,
        )
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def mark_sent(
    session: AsyncSession, delivery_id: int, worker: str, *, message_id: int, now: datetime
) -> bool:
    return await _finish(
        session,
        delivery_id,
        worker,
        status=DeliveryStatus.SENT,
        sent_at=now,
        message_id=message_id,
        attempts=BroadcastDelivery.attempts + 1,
        last_error=None,
    )


async def mark_blocked(
    session: AsyncSession, delivery_id: int, worker: str, *, patient_id: int, reason: str
) -> bool:
    """The patient blocked the bot (or their chat is gone): they are unreachable from now on.

    As the reminder dispatcher does: the patient is marked unreachable and their pending
    reminders cancelled, in the same transaction as the delivery.
    """
    await session.exec(
        sa.update(Patient)
        .where(col(Patient.id) == patient_id)
        .values(status=PatientStatus.UNREACHABLE)
    )
    await store.cancel_open_for_patient(session, patient_id, reason)
    return await _finish(
        session,
        delivery_id,
        worker,
        status=DeliveryStatus.BLOCKED,
        attempts=BroadcastDelivery.attempts + 1,
        last_error=reason[:200],
    )


async def mark_failed(session: AsyncSession, delivery_id: int, worker: str, reason: str) -> bool:
    return await _finish(
        session,
        delivery_id,
        worker,
        status=DeliveryStatus.FAILED,
        attempts=BroadcastDelivery.attempts + 1,
        last_error=reason[:200],
    )


async def mark_skipped(session: AsyncSession, delivery_id: int, worker: str, reason: str) -> bool:
    return await _finish(
        session, delivery_id, worker, status=DeliveryStatus.SKIPPED, last_error=reason[:200]
    )


async def mark_cancelled(session: AsyncSession, delivery_id: int, worker: str) -> bool:
    return await _finish(
        session, delivery_id, worker, status=DeliveryStatus.CANCELLED, last_error="cancelled"
    )


async def release(
    session: AsyncSession,
    delivery_id: int,
    worker: str,
    *,
    not_before: datetime,
    reason: str,
    count_attempt: bool = True,
) -> bool:
    """Back to pending, claimable again from ``not_before`` (a retry, or after a 429)."""
    attempts = BroadcastDelivery.attempts + (1 if count_attempt else 0)
    result = await session.exec(
        sa.update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.id) == delivery_id,
            col(BroadcastDelivery.status) == DeliveryStatus.CLAIMED,
            col(BroadcastDelivery.claimed_by) == worker,
        )
        .values(
            status=DeliveryStatus.PENDING,
            claimed_by=None,
            claimed_until=not_before,
            attempts=attempts,
            last_error=reason[:200],
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount == 1)


# -- finishing --------------------------------------------------------------------------------


def _ready() -> SelectOfScalar[int | None]:
    """Confirmed, unfinished broadcasts whose deliveries are all dealt with.

    A cancelled one is ready once nothing of it is claimed: its pending rows (back from a
    dead process's claim) are cancelled by ``sweep_cancelled``.
    """
    b, d = Broadcast, BroadcastDelivery
    busy = sa.or_(
        col(d.status) == DeliveryStatus.CLAIMED,
        sa.and_(
            col(d.status) == DeliveryStatus.PENDING,
            col(b.status) == BroadcastStatus.SENDING,
        ),
    )
    in_flight = select(sa.literal(1)).where(col(d.broadcast_id) == col(b.id), busy)
    return (
        select(col(b.id))
        .where(
            col(b.status).in_([BroadcastStatus.SENDING, BroadcastStatus.CANCELLED]),
            col(b.finished_at).is_(None),
            ~in_flight.exists(),
        )
        .order_by(col(b.id))
    )


async def ready_to_finish(session: AsyncSession) -> list[Broadcast]:
    """Broadcasts to close with their final report (cancelled leftovers swept first)."""
    ids = [i for i in (await session.exec(_ready())).all() if i is not None]
    if not ids:
        return []
    await session.exec(
        sa.update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.broadcast_id).in_(ids),
            col(BroadcastDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, claimed_until=None, last_error="cancelled")
    )
    await session.commit()
    rows = await session.exec(
        select(Broadcast).where(col(Broadcast.id).in_(ids)).order_by(col(Broadcast.id))
    )
    return list(rows.all())


async def mark_finished(session: AsyncSession, broadcast: Broadcast, now: datetime) -> bool:
    """A sending broadcast is done, a cancelled one finished; False if someone was first."""
    status = (
        BroadcastStatus.DONE if broadcast.status == BroadcastStatus.SENDING else broadcast.status
    )
    result = await session.exec(
        sa.update(Broadcast)
        .where(
            col(Broadcast.id) == broadcast.id,
            col(Broadcast.status) == broadcast.status,
            col(Broadcast.finished_at).is_(None),
        )
        .values(status=status, finished_at=now)
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def next_due(session: AsyncSession, now: datetime) -> datetime | None:
    """When the sender next has work: a delivery claimable (now or after its retry time),
    a claim lapsing, or a finished-but-not-reported broadcast (now)."""
    sending = select(col(Broadcast.id)).where(col(Broadcast.status) == BroadcastStatus.SENDING)
    pending = await session.exec(
        select(
            sa.func.count(),
            sa.func.count(col(BroadcastDelivery.claimed_until)),
            sa.func.min(col(BroadcastDelivery.claimed_until)),
        ).where(
            col(BroadcastDelivery.status) == DeliveryStatus.PENDING,
            col(BroadcastDelivery.broadcast_id).in_(sending.scalar_subquery()),
        )
    )
    rows, later, earliest_retry = pending.one()
    if rows > later:  # some pending row has no "not before": due now
        return now
    lapsing = await session.exec(
        select(sa.func.min(col(BroadcastDelivery.claimed_until))).where(
            col(BroadcastDelivery.status) == DeliveryStatus.CLAIMED
        )
    )
    moments = [m for m in (earliest_retry, lapsing.one()) if m is not None]
    if (await session.exec(_ready().limit(1))).first() is not None:
        moments.append(now)
    return max(now, min(moments)) if moments else None
