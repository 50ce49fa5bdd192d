"""The outbox: write a plan, claim what is due, record what happened.

Claims are compare-and-set updates with a lease (``claimed_until``), so the same
code is safe on SQLite and Postgres; on Postgres the batch is picked with
``FOR UPDATE SKIP LOCKED``. A claim whose lease ran out (the process died) is
simply claimable again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.models import Reminder, ReminderStatus

_OPEN = (ReminderStatus.PENDING, ReminderStatus.CLAIMED)


# Why a re-plan cancels a pending row: the step no longer applies, or it is past its grace.
REPLANNED = "no longer in the plan"


def planned_time(reminder: Reminder) -> datetime:
    """When the plan wants ``reminder``: lateness is judged from this, not from ``due_at``,
    which a retry or quiet hours may have moved later."""
    return reminder.planned_at or reminder.due_at


@dataclass(frozen=True)
class PlanItem:
    step_id: str
    occurrence: int
    due_at: datetime


@dataclass(frozen=True)
class PlanChange:
    added: int
    moved: int
    cancelled: int
    unchanged: int


async def apply_plan(
    session: AsyncSession, *, treatment_id: int, patient_id: int, items: Sequence[PlanItem]
) -> PlanChange:
    """Make the pending rows of a treatment match ``items``; idempotent.

    Rows already sent, skipped or failed are history and stay as they are; pending
    rows whose planned time changed get the new one (a row a retry or quiet hours moved
    keeps its move while its planned time stands); pending rows no longer in the plan are
    cancelled, with that reason.
    Every write is a compare-and-set on the status it read, so a row a dispatcher
    claimed or sent in the meantime is left alone (and counted as unchanged).
    """
    existing = {
        (row.step_id, row.occurrence): row
        for row in (
            await session.exec(
                select(Reminder)
                # Snoozed copies are the patient's, not the plan's: leave them be.
                .where(Reminder.treatment_id == treatment_id, col(Reminder.snoozed_from).is_(None))
                # Fresh values even if this session loaded these rows earlier.
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    wanted = {(item.step_id, item.occurrence): item for item in items}
    added = moved = unchanged = 0
    new_rows: list[dict[str, object]] = []
    for key, item in wanted.items():
        row = existing.get(key)
        if row is None:
            new_rows.append(
                {
                    "treatment_id": treatment_id,
                    "patient_id": patient_id,
                    "step_id": item.step_id,
                    "occurrence": item.occurrence,
                    "due_at": item.due_at,
                    "status": ReminderStatus.PENDING,
                    "attempts": 0,
                }
            )
        elif row.status == ReminderStatus.CANCELLED and await _set_if(
            session,
            [row],
            ReminderStatus.CANCELLED,
            status=ReminderStatus.PENDING,
            due_at=item.due_at,
            planned_at=None,
            attempts=0,
            last_error=None,
        ):
            added += 1
        elif (
            row.status == ReminderStatus.PENDING
            and planned_time(row) != item.due_at
            and await _set_if(
                session, [row], ReminderStatus.PENDING, due_at=item.due_at, planned_at=None
            )
        ):
            moved += 1
        else:
            unchanged += 1
    gone = [
        row
        for key, row in existing.items()
        if key not in wanted and row.status == ReminderStatus.PENDING
    ]
    cancelled = await _set_if(
        session, gone, ReminderStatus.PENDING, status=ReminderStatus.CANCELLED, last_error=REPLANNED
    )
    added += await _insert_new(session, new_rows)
    return PlanChange(added=added, moved=moved, cancelled=cancelled, unchanged=unchanged)


async def _set_if(
    session: AsyncSession, rows: Sequence[Reminder], expected: ReminderStatus, /, **values: object
) -> int:
    """Update those of ``rows`` whose status is still ``expected``; how many did."""
    if not rows:
        return 0
    statement = (
        sa.update(Reminder)
        .where(col(Reminder.id).in_([row.id for row in rows]), col(Reminder.status) == expected)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return int((await session.exec(statement)).rowcount)


_KEY = ["treatment_id", "step_id", "occurrence"]


async def _insert_new(session: AsyncSession, rows: list[dict[str, object]]) -> int:
    """Insert planned rows; a key another planner inserted meanwhile is left as it is."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    inserted = 0
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        statement: sa.Insert
        if dialect == "postgresql":
            statement = (
                pg_insert(Reminder).values(chunk).on_conflict_do_nothing(index_elements=_KEY)
            )
        elif dialect == "sqlite":
            statement = (
                sqlite_insert(Reminder).values(chunk).on_conflict_do_nothing(index_elements=_KEY)
            )
        else:
            statement = sa.insert(Reminder).values(chunk)
        result = await session.exec(statement.returning(col(Reminder.id)))
        inserted += len(result.all())
    return inserted


async def claim_due(
    session: AsyncSession, *, now: datetime, worker: str, lease: timedelta, limit: int
) -> list[Reminder]:
    """Claim up to ``limit`` due reminders (oldest first) for ``worker``; commits.

    Lapsed claims are first returned to pending by their own statement, so that the
    claim itself filters on ``status = 'pending'`` alone and can use the
    (status, due_at) index instead of scanning the table.
    """
    await session.exec(
        sa.update(Reminder)
        .where(
            col(Reminder.status) == ReminderStatus.CLAIMED,
            col(Reminder.claimed_until) < now,
        )
        .values(status=ReminderStatus.PENDING, claimed_by=None, claimed_until=None)
    )
    claimable = col(Reminder.status) == ReminderStatus.PENDING
    pick = (
        sa.select(col(Reminder.id))
        .where(claimable, col(Reminder.due_at) <= now)
        .order_by(col(Reminder.due_at), col(Reminder.id))
        .limit(limit)
    )
    still_claimable: sa.ColumnElement[bool] | sa.TextClause = claimable
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    elif dialect == "sqlite":
        # A unary + keeps SQLite from walking the status index for this outer check (every
        # pending row: 67 ms at a million); it then finds the picked ids by rowid instead.
        still_claimable = sa.text("+reminder.status = :pending").bindparams(
            pending=ReminderStatus.PENDING.value
        )
    statement = (
        sa.update(Reminder)
        .where(col(Reminder.id).in_(pick.scalar_subquery()), still_claimable)
        .values(status=ReminderStatus.CLAIMED, claimed_by=worker, claimed_until=now + lease)
        .returning(col(Reminder.id))
    )
    ids = list((await session.exec(statement)).scalars())
    await session.commit()
    if not ids:
        return []
    rows = await session.exec(
        select(Reminder)
        .where(col(Reminder.id).in_(ids))
        .order_by(col(Reminder.due_at), col(Reminder.id))
    )
    return list(rows.all())


async def _update_held(
    session: AsyncSession, reminder_id: int, worker: str, **values: object
) -> bool:
    """Update a reminder this worker still holds, and commit; False if the claim was lost."""
    statement = (
        sa.update(Reminder)
        .where(
            col(Reminder.id) == reminder_id,
            col(Reminder.status) == ReminderStatus.CLAIMED,
            col(Reminder.claimed_by) == worker,
        )
        .values(**values)
    )
    result = await session.exec(statement)
    await session.commit()
    return bool(result.rowcount == 1)


async def _finish(session: AsyncSession, reminder_id: int, worker: str, **values: object) -> bool:
    """Close or release a reminder this worker still holds; False if the claim was lost."""
    return await _update_held(
        session, reminder_id, worker, claimed_by=None, claimed_until=None, **values
    )


async def mark_sending(session: AsyncSession, reminder_id: int, worker: str, now: datetime) -> bool:
    """Note that a send of this reminder starts now; False if the claim was lost (then the
    send must not go)."""
    return await _update_held(session, reminder_id, worker, send_started_at=now)


async def mark_maybe_sent(
    session: AsyncSession, reminder_id: int, worker: str, reason: str
) -> bool:
    return await _finish(
        session, reminder_id, worker, status=ReminderStatus.MAYBE_SENT, last_error=reason
    )


async def mark_sent(
    session: AsyncSession, reminder_id: int, worker: str, *, message_id: int, now: datetime
) -> bool:
    return await _finish(
        session,
        reminder_id,
        worker,
        status=ReminderStatus.SENT,
        sent_message_id=message_id,
        sent_at=now,
        attempts=Reminder.attempts + 1,
        last_error=None,
    )


async def mark_skipped(session: AsyncSession, reminder_id: int, worker: str, reason: str) -> bool:
    return await _finish(
        session, reminder_id, worker, status=ReminderStatus.SKIPPED, last_error=reason
    )


async def mark_cancelled(session: AsyncSession, reminder_id: int, worker: str, reason: str) -> bool:
    return await _finish(
        session, reminder_id, worker, status=ReminderStatus.CANCELLED, last_error=reason
    )


async def mark_failed(session: AsyncSession, reminder_id: int, worker: str, reason: str) -> bool:
    return await _finish(
        session,
        reminder_id,
        worker,
        status=ReminderStatus.FAILED,
        attempts=Reminder.attempts + 1,
        last_error=reason,
    )


async def release_for_retry(
    session: AsyncSession,
    reminder_id: int,
    worker: str,
    *,
    retry_at: datetime,
    reason: str,
    count_attempt: bool = True,
    did_not_go: bool = False,
) -> bool:
    """Put a claimed reminder back to pending, due again at ``retry_at``; ``did_not_go``:
    the send is known not to have reached Telegram (a 429, a refused connection)."""
    attempts = Reminder.attempts + 1 if count_attempt else Reminder.attempts
    started = None if did_not_go else Reminder.send_started_at
    return await _finish(
        session,
        reminder_id,
        worker,
        status=ReminderStatus.PENDING,
        send_started_at=started,
        planned_at=sa.func.coalesce(Reminder.planned_at, Reminder.due_at),
        due_at=retry_at,
        attempts=attempts,
        last_error=reason,
    )


async def queue_behind(
    session: AsyncSession, patient_id: int, worker: str, retry_at: datetime
) -> int:
    """Keep a patient's messages in order behind one that will be retried at ``retry_at``.

    Their other open reminders due before then (pending, or claimed by ``worker`` in the
    batch at hand) move to just after it, a microsecond apart in their own order, and are
    pending again; commits. Returns how many moved.
    """
    open_here = sa.or_(
        col(Reminder.status) == ReminderStatus.PENDING,
        sa.and_(col(Reminder.status) == ReminderStatus.CLAIMED, col(Reminder.claimed_by) == worker),
    )
    rows = await session.exec(
        select(Reminder)
        .where(col(Reminder.patient_id) == patient_id, open_here, col(Reminder.due_at) < retry_at)
        .order_by(col(Reminder.due_at), col(Reminder.id))
    )
    moved = list(rows.all())
    for rank, row in enumerate(moved, start=1):
        row.planned_at = planned_time(row)
        row.due_at = retry_at + timedelta(microseconds=rank)
        row.status = ReminderStatus.PENDING
        row.claimed_by = None
        row.claimed_until = None
        session.add(row)
    await session.commit()
    return len(moved)


async def release_claims(session: AsyncSession, *, worker: str | None = None) -> int:
    """Put claimed reminders back to pending at once: ``worker``'s own (a graceful stop),
    or everyone's (a new leader adopting a dead one's claims). Returns how many."""
    held = [col(Reminder.status) == ReminderStatus.CLAIMED]
    if worker is not None:
        held.append(col(Reminder.claimed_by) == worker)
    result = await session.exec(
        sa.update(Reminder)
        .where(*held)
        .values(status=ReminderStatus.PENDING, claimed_by=None, claimed_until=None)
    )
    await session.commit()
    return int(result.rowcount)


async def cancel_open_for_patient(session: AsyncSession, patient_id: int, reason: str) -> int:
    """Cancel every pending reminder of a patient (claimed ones finish or lapse)."""
    statement = (
        sa.update(Reminder)
        .where(
            col(Reminder.patient_id) == patient_id,
            col(Reminder.status) == ReminderStatus.PENDING,
        )
        .values(status=ReminderStatus.CANCELLED, last_error=reason)
    )
    result = await session.exec(statement)
    return int(result.rowcount)


async def cancel_pending_steps(
    session: AsyncSession, patient_id: int, step_ids: Collection[str], reason: str
) -> int:
    """Cancel a patient's pending reminders of these steps, snoozed copies included."""
    if not step_ids:
        return 0
    statement = (
        sa.update(Reminder)
        .where(
            col(Reminder.patient_id) == patient_id,
            col(Reminder.status) == ReminderStatus.PENDING,
            col(Reminder.step_id).in_(list(step_ids)),
        )
        .values(status=ReminderStatus.CANCELLED, last_error=reason)
    )
    result = await session.exec(statement)
    return int(result.rowcount)


async def add_snoozed(
    session: AsyncSession, original: Reminder, *, occurrence: int, due_at: datetime
) -> tuple[Reminder, bool]:
    """The snoozed copy of ``original`` under key ``occurrence``, inserted if new.

    Returns the row and whether this call created it: a second snooze of the same
    reminder (a double tap) finds the first copy and changes nothing.
    """
    assert original.id is not None
    created = await _insert_new(
        session,
        [
            {
                "treatment_id": original.treatment_id,
                "patient_id": original.patient_id,
                "step_id": original.step_id,
                "occurrence": occurrence,
                "due_at": due_at,
                "status": ReminderStatus.PENDING,
                "attempts": 0,
                "snoozed_from": original.id,
            }
        ],
    )
    row = (
        await session.exec(
            select(Reminder)
            .where(
                Reminder.treatment_id == original.treatment_id,
                Reminder.step_id == original.step_id,
                Reminder.occurrence == occurrence,
            )
            .execution_options(populate_existing=True)
        )
    ).one()
    return row, created == 1


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the dispatcher next has work: the earliest pending due time or lapsing claim."""
    pending = await session.exec(
        select(sa.func.min(Reminder.due_at)).where(Reminder.status == ReminderStatus.PENDING)
    )
    lapsing = await session.exec(
        select(sa.func.min(Reminder.claimed_until)).where(Reminder.status == ReminderStatus.CLAIMED)
    )
    moments = [m for m in (pending.one(), lapsing.one()) if m is not None]
    return min(moments) if moments else None


async def upcoming(
    session: AsyncSession, patient_id: int, *, after: datetime, limit: int = 10
) -> list[Reminder]:
    """A patient's pending reminders due after ``after`` (earlier ones are going out now)."""
    rows = await session.exec(
        select(Reminder)
        .where(
            Reminder.patient_id == patient_id,
            Reminder.status == ReminderStatus.PENDING,
            col(Reminder.due_at) > after,
        )
        .order_by(col(Reminder.due_at))
        .limit(limit)
    )
    return list(rows.all())


def is_open(status: ReminderStatus) -> bool:
    return status in _OPEN
