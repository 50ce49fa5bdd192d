"""Delivering a confirmed broadcast: its ``broadcastdelivery`` rows are an outbox.

Claimed in small batches with a lease (``FOR UPDATE SKIP LOCKED`` on Postgres), each
outcome written in its own transaction, a lapsed claim claimable again. A pending row's
``claimed_until`` is its "not before" (a retry after a 5xx or a 429). A patient who stops
or becomes unreachable after the broadcast was confirmed is skipped when their turn comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from schedules import store
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
    Patient,
    PatientStatus,
)

_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)


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


async def release_claims(session: AsyncSession, *, worker: str | None = None) -> int:
    """Put claimed deliveries back to pending at once: ``worker``'s own or everyone's."""
    held = [col(BroadcastDelivery.status) == DeliveryStatus.CLAIMED]
    if worker is not None:
        held.append(col(BroadcastDelivery.claimed_by) == worker)
    result = await session.exec(
        sa.update(BroadcastDelivery)
        .where(*held)
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_until=None)
    )
    await session.commit()
    return int(result.rowcount)


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
