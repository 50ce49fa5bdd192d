"""The outbox on real databases: planning, claiming with leases, recording outcomes.

Every test runs on SQLite and on Postgres (``db_engine`` is parametrized). Time
never passes on its own: each call gets its ``now``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules import store
from schedules.db import SessionFactory, session_factory
from schedules.models import Reminder, ReminderStatus
from schedules.store import PlanChange, PlanItem
from tests.integration.conftest import T0, Owner, add_owner

LEASE = timedelta(seconds=30)
Key = tuple[str, int]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def item(step_id: str, occurrence: int, minutes: float) -> PlanItem:
    return PlanItem(step_id, occurrence, at(minutes))


async def apply(sessions: SessionFactory, owner: Owner, items: list[PlanItem]) -> PlanChange:
    async with sessions() as session:
        change = await store.apply_plan(
            session, treatment_id=owner.treatment_id, patient_id=owner.patient_id, items=items
        )
        await session.commit()
    return change


async def rows(sessions: SessionFactory, owner: Owner | None = None) -> dict[Key, Reminder]:
    """The outbox as stored, read in a fresh session."""
    query = select(Reminder)
    if owner is not None:
        query = query.where(Reminder.treatment_id == owner.treatment_id)
    async with sessions() as session:
        return {(r.step_id, r.occurrence): r for r in (await session.exec(query)).all()}


def columns(row: Reminder) -> dict[str, Any]:
    """Every stored column of a row, for comparing before and after."""
    return {name: getattr(row, name) for name in Reminder.model_fields}


def dumps(found: dict[Key, Reminder]) -> dict[Key, dict[str, Any]]:
    return {key: columns(row) for key, row in found.items()}


async def claim(
    sessions: SessionFactory, worker: str, now: datetime = T0, limit: int = 100
) -> list[Reminder]:
    async with sessions() as session:
        return await store.claim_due(session, now=now, worker=worker, lease=LEASE, limit=limit)


async def force(sessions: SessionFactory, reminder_id: int | None, **values: object) -> None:
    """Test setup: put a row straight into a state (the store's own paths are tested below)."""
    async with sessions() as session:
        await session.exec(
            sa.update(Reminder).where(col(Reminder.id) == reminder_id).values(**values)
        )
        await session.commit()


async def one(sessions: SessionFactory, reminder_id: int | None) -> Reminder:
    async with sessions() as session:
        row = await session.get(Reminder, reminder_id)
    assert row is not None
    return row


async def claimed_one(sessions: SessionFactory, owner: Owner, worker: str = "a") -> Reminder:
    """A single reminder, due at T0, claimed by ``worker``."""
    await apply(sessions, owner, [item("spf", 0, 0)])
    (row,) = await claim(sessions, worker)
    return row


# ---------------------------------------------------------------- apply_plan


async def test_a_new_plan_adds_one_pending_row_per_item(
    sessions: SessionFactory, owner: Owner
) -> None:
    change = await apply(
        sessions, owner, [item("spf", 0, 10), item("spf", 1, 20), item("mo", 0, 5)]
    )

    assert change == PlanChange(added=3, moved=0, cancelled=0, unchanged=0)
    found = await rows(sessions, owner)
    assert {key: (r.status, r.due_at, r.attempts) for key, r in found.items()} == {
        ("spf", 0): (ReminderStatus.PENDING, at(10), 0),
        ("spf", 1): (ReminderStatus.PENDING, at(20), 0),
        ("mo", 0): (ReminderStatus.PENDING, at(5), 0),
    }
    assert {r.patient_id for r in found.values()} == {owner.patient_id}


async def test_applying_the_same_plan_twice_changes_nothing(
    sessions: SessionFactory, owner: Owner
) -> None:
    plan = [item("spf", 0, 10), item("spf", 1, 20), item("mo", 0, 5)]
    await apply(sessions, owner, plan)
    before = dumps(await rows(sessions, owner))

    again = await apply(sessions, owner, plan)

    assert again == PlanChange(added=0, moved=0, cancelled=0, unchanged=3)
    assert dumps(await rows(sessions, owner)) == before


async def test_a_new_due_time_moves_only_pending_rows(
    sessions: SessionFactory, owner: Owner
) -> None:
    states = ["pending", "claimed", "sent", "skipped", "failed"]
    await apply(sessions, owner, [item(state, 0, 0) for state in states])
    for key, row in (await rows(sessions, owner)).items():
        if key[0] != "pending":
            await force(sessions, row.id, status=ReminderStatus(key[0]))
    before = dumps(await rows(sessions, owner))

    change = await apply(sessions, owner, [item(state, 0, 60) for state in states])

    assert change == PlanChange(added=0, moved=1, cancelled=0, unchanged=4)
    after = await rows(sessions, owner)
    assert after["pending", 0].due_at == at(60)
    assert after["pending", 0].status == ReminderStatus.PENDING
    assert {k: v for k, v in dumps(after).items() if k[0] != "pending"} == {
        k: v for k, v in before.items() if k[0] != "pending"
    }


async def test_a_pending_row_missing_from_the_plan_is_cancelled_and_history_stays(
    sessions: SessionFactory, owner: Owner
) -> None:
    states = ["pending", "claimed", "sent", "skipped", "failed"]
    await apply(sessions, owner, [item(state, 0, 0) for state in states])
    for key, row in (await rows(sessions, owner)).items():
        if key[0] != "pending":
            await force(sessions, row.id, status=ReminderStatus(key[0]))
    before = dumps(await rows(sessions, owner))

    change = await apply(sessions, owner, [])

    assert change == PlanChange(added=0, moved=0, cancelled=1, unchanged=0)
    after = await rows(sessions, owner)
    assert after["pending", 0].status == ReminderStatus.CANCELLED
    assert {k: v for k, v in dumps(after).items() if k[0] != "pending"} == {
        k: v for k, v in before.items() if k[0] != "pending"
    }


async def test_a_cancelled_row_that_comes_back_is_pending_again(
    sessions: SessionFactory, owner: Owner
) -> None:
    await apply(sessions, owner, [item("spf", 0, 10), item("spf", 1, 20)])
    await apply(sessions, owner, [item("spf", 0, 10)])
    cancelled = (await rows(sessions, owner))["spf", 1]
    assert cancelled.status == ReminderStatus.CANCELLED
    await force(sessions, cancelled.id, attempts=2, last_error="stopped")  # it had been tried

    change = await apply(sessions, owner, [item("spf", 0, 10), item("spf", 1, 30)])

    assert change == PlanChange(added=1, moved=0, cancelled=0, unchanged=1)
    found = await rows(sessions, owner)
    back = found["spf", 1]
    assert (back.id, back.status, back.due_at, back.attempts, back.last_error) == (
        cancelled.id,
        ReminderStatus.PENDING,
        at(30),
        0,
        None,
    )
    assert len(found) == 2


async def test_a_replan_never_rewrites_a_row_sent_since_it_was_read(
    sessions: SessionFactory, owner: Owner
) -> None:
    """The planner's session read the row as pending; a dispatcher sent it meanwhile."""
    await apply(sessions, owner, [item("spf", 0, 0), item("mo", 0, 0)])
    async with sessions() as planner:
        seen = (await planner.exec(select(Reminder))).all()  # the planner's view: pending
        for row in await claim(sessions, "w1"):
            async with sessions() as worker:
                assert await store.mark_sent(worker, row.id or 0, "w1", message_id=1, now=T0)

        change = await store.apply_plan(
            planner,
            treatment_id=owner.treatment_id,
            patient_id=owner.patient_id,
            items=[item("spf", 0, 30)],
        )
        await planner.commit()
    await apply(sessions, owner, [item("spf", 0, 30), item("mo", 0, 30)])

    assert change == PlanChange(added=0, moved=0, cancelled=0, unchanged=1)
    assert len(seen) == 2
    assert {r.status for r in (await rows(sessions, owner)).values()} == {ReminderStatus.SENT}
    assert await claim(sessions, "w2", now=at(60)) == []


async def test_a_replan_racing_a_dispatcher_leaves_the_sent_row_alone(
    db_engine: AsyncEngine, sessions: SessionFactory, owner: Owner
) -> None:
    """Between the planner's read and its first write, a dispatcher claims and sends."""
    await apply(sessions, owner, [item("spf", 0, 0)])
    raced: list[str] = []

    async def dispatch_everything_due() -> None:
        for row in await claim(sessions, "w1"):
            async with sessions() as worker:
                assert await store.mark_sent(worker, row.id or 0, "w1", message_id=1, now=T0)

    def before_first_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not raced and statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            raced.append(statement)
            await_only(dispatch_everything_due())

    event.listen(db_engine.sync_engine, "before_cursor_execute", before_first_write)
    try:
        change = await apply(sessions, owner, [])  # the planner drops the step
    finally:
        event.remove(db_engine.sync_engine, "before_cursor_execute", before_first_write)
    await apply(sessions, owner, [item("spf", 0, 0)])  # ... and brings it back

    assert raced
    assert change == PlanChange(added=0, moved=0, cancelled=0, unchanged=0)
    assert (await rows(sessions, owner))["spf", 0].status == ReminderStatus.SENT
    assert await claim(sessions, "w2", now=at(60)) == []


async def test_the_outbox_key_is_unique_per_treatment(
    sessions: SessionFactory, owner: Owner
) -> None:
    other = await add_owner(sessions, chat_id=2002)
    await apply(sessions, owner, [item("spf", 0, 10)])
    await apply(sessions, other, [item("spf", 0, 10)])  # same step, other treatment: fine
    await apply(sessions, owner, [item("spf", 0, 15)])

    async with sessions() as session:
        assert (await session.exec(select(sa.func.count()).select_from(Reminder))).one() == 2
    async with sessions() as session:
        session.add(
            Reminder(
                treatment_id=owner.treatment_id,
                patient_id=owner.patient_id,
                step_id="spf",
                occurrence=0,
                due_at=at(99),
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


# ----------------------------------------------------------------- claim_due


async def test_it_claims_only_due_rows_oldest_first_up_to_the_limit(
    sessions: SessionFactory, owner: Owner
) -> None:
    minutes = {"a": -1, "b": -3, "c": 0, "d": -2, "e": 1}
    await apply(sessions, owner, [item(step, 0, m) for step, m in minutes.items()])

    first = await claim(sessions, "w1", limit=3)
    rest = await claim(sessions, "w1", limit=10)

    assert [r.step_id for r in first] == ["b", "d", "a"]
    assert [r.step_id for r in rest] == ["c"]  # due exactly now counts; "e" is not due
    stored = await rows(sessions, owner)
    for step in "abcd":
        assert stored[step, 0].status == ReminderStatus.CLAIMED
        assert stored[step, 0].claimed_by == "w1"
        assert stored[step, 0].claimed_until == T0 + LEASE
    assert stored["e", 0].status == ReminderStatus.PENDING
    assert stored["e", 0].claimed_by is None


async def test_claimed_rows_come_back_as_claimed_in_a_session_that_already_held_them(
    sessions: SessionFactory, owner: Owner
) -> None:
    async with sessions() as session:
        await store.apply_plan(
            session,
            treatment_id=owner.treatment_id,
            patient_id=owner.patient_id,
            items=[item("spf", 0, 0)],
        )
        await session.commit()
        (row,) = await store.claim_due(session, now=T0, worker="w1", lease=LEASE, limit=10)

        assert (row.status, row.claimed_by, row.claimed_until) == (
            ReminderStatus.CLAIMED,
            "w1",
            T0 + LEASE,
        )


async def test_a_claim_holds_for_its_lease_and_lapses_after(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner, worker="w1")

    during = await claim(sessions, "w2", now=T0 + LEASE - timedelta(seconds=1))
    at_the_end = await claim(sessions, "w2", now=T0 + LEASE)
    after = await claim(sessions, "w2", now=T0 + LEASE + timedelta(microseconds=1))

    assert (during, at_the_end) == ([], [])
    assert [r.id for r in after] == [row.id]
    stored = await one(sessions, row.id)
    assert (stored.claimed_by, stored.claimed_until) == (
        "w2",
        T0 + LEASE + LEASE + timedelta(microseconds=1),
    )


async def test_releasing_a_workers_claims_returns_only_its_rows_to_pending_at_once(
    sessions: SessionFactory, owner: Owner
) -> None:
    await apply(sessions, owner, [item(step, 0, -1) for step in "abcd"])
    mine = await claim(sessions, "w1", limit=2)
    theirs = await claim(sessions, "w2", limit=2)

    async with sessions() as session:
        released = await store.release_claims(session, worker="w1")
    again = await claim(sessions, "w3", limit=10)  # well inside the lease

    assert released == 2
    assert sorted(r.id for r in again) == sorted(r.id for r in mine)
    for row in theirs:
        assert (await one(sessions, row.id)).claimed_by == "w2"


async def test_a_new_leader_adopts_every_claim_left_behind(
    sessions: SessionFactory, owner: Owner
) -> None:
    await apply(sessions, owner, [item(step, 0, -1) for step in "abc"])
    await claim(sessions, "dead-1", limit=1)
    await claim(sessions, "dead-2", limit=1)

    async with sessions() as session:
        adopted = await store.release_claims(session)

    assert adopted == 2
    assert len(await claim(sessions, "leader", limit=10)) == 3


async def test_workers_claiming_at_once_never_share_a_row_and_miss_none(
    sessions: SessionFactory, owner: Owner
) -> None:
    """On Postgres this races SKIP LOCKED and the compare-and-set; SQLite serialises writers."""
    await apply(sessions, owner, [item("step", n, -(n % 7)) for n in range(90)])

    async def drain(worker: str) -> list[int]:
        got: list[int] = []
        while batch := await claim(sessions, worker, limit=5):
            got.extend(r.id for r in batch if r.id is not None)
        return got

    workers = ["w1", "w2", "w3"]
    claimed = dict(zip(workers, await asyncio.gather(*map(drain, workers)), strict=True))

    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 90
    stored = {r.id: r.claimed_by for r in (await rows(sessions, owner)).values()}
    assert stored == {i: worker for worker, ids in claimed.items() for i in ids}


async def test_a_claim_skips_rows_another_transaction_has_locked(
    postgres_engine: AsyncEngine,
) -> None:
    """Postgres only: FOR UPDATE SKIP LOCKED takes the next rows instead of waiting."""
    sessions = session_factory(postgres_engine)
    owner = await add_owner(sessions, chat_id=3003)
    await apply(sessions, owner, [item("step", n, -10 + n) for n in range(5)])
    async with sessions() as locker:
        locked = (
            await locker.exec(
                select(Reminder.id).order_by(col(Reminder.due_at)).limit(2).with_for_update()
            )
        ).all()

        # Without SKIP LOCKED this claim would wait for ``locker``, which waits for it.
        claimed = await asyncio.wait_for(claim(sessions, "w1", limit=10), timeout=10)

        assert [r.occurrence for r in claimed] == [2, 3, 4]
        await locker.rollback()
    assert [r.id for r in await claim(sessions, "w2", limit=10)] == locked


# ----------------------------------------------------------- recording outcomes


async def test_mark_sent_stores_the_message_and_releases_the_claim(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner, worker="w1")
    sent_at = T0 + timedelta(seconds=2)

    async with sessions() as session:
        assert await store.mark_sent(session, row.id or 0, "w1", message_id=2**40, now=sent_at)
    stored = await one(sessions, row.id)
    async with sessions() as session:
        again = await store.mark_sent(session, row.id or 0, "w1", message_id=7, now=sent_at)

    assert stored.status == ReminderStatus.SENT
    assert (stored.sent_message_id, stored.sent_at, stored.attempts) == (2**40, sent_at, 1)
    assert (stored.claimed_by, stored.claimed_until, stored.last_error) == (None, None, None)
    assert again is False
    assert columns(await one(sessions, row.id)) == columns(stored)


def _finishers(
    session: AsyncSession, reminder_id: int, worker: str
) -> list[Callable[[], Awaitable[bool]]]:
    return [
        lambda: store.mark_sent(session, reminder_id, worker, message_id=1, now=T0),
        lambda: store.mark_failed(session, reminder_id, worker, "400"),
        lambda: store.mark_skipped(session, reminder_id, worker, "stale"),
        lambda: store.mark_cancelled(session, reminder_id, worker, "stopped"),
        lambda: store.release_for_retry(session, reminder_id, worker, retry_at=T0, reason="5xx"),
    ]


async def test_only_the_worker_holding_the_claim_can_record_an_outcome(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner, worker="w1")
    before = columns(await one(sessions, row.id))

    async with sessions() as session:
        results = [await finish() for finish in _finishers(session, row.id or 0, "w2")]

    assert results == [False] * 5
    assert columns(await one(sessions, row.id)) == before


async def test_a_pending_row_cannot_be_recorded(sessions: SessionFactory, owner: Owner) -> None:
    await apply(sessions, owner, [item("spf", 0, 0)])
    row = (await rows(sessions, owner))["spf", 0]

    async with sessions() as session:
        results = [await finish() for finish in _finishers(session, row.id or 0, "w1")]

    assert results == [False] * 5
    assert (await one(sessions, row.id)).status == ReminderStatus.PENDING


async def test_a_worker_whose_lapsed_claim_was_taken_over_cannot_record(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner, worker="w1")
    later = T0 + LEASE + timedelta(seconds=1)
    assert [r.id for r in await claim(sessions, "w2", now=later)] == [row.id]

    async with sessions() as session:
        old = [
            await store.mark_sent(session, row.id or 0, "w1", message_id=1, now=later),
            await store.mark_failed(session, row.id or 0, "w1", "timeout"),
        ]
        new = await store.mark_sent(session, row.id or 0, "w2", message_id=2, now=later)

    assert (old, new) == ([False, False], True)
    stored = await one(sessions, row.id)
    assert (stored.status, stored.sent_message_id, stored.attempts) == (ReminderStatus.SENT, 2, 1)


async def test_mark_failed_counts_the_attempt_and_keeps_the_reason(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner)

    async with sessions() as session:
        assert await store.mark_failed(session, row.id or 0, "a", "400 bad markup")

    stored = await one(sessions, row.id)
    assert (stored.status, stored.attempts, stored.last_error) == (
        ReminderStatus.FAILED,
        1,
        "400 bad markup",
    )
    assert (stored.claimed_by, stored.claimed_until, stored.sent_at) == (None, None, None)


@pytest.mark.parametrize(
    ("mark", "status"),
    [
        (store.mark_skipped, ReminderStatus.SKIPPED),
        (store.mark_cancelled, ReminderStatus.CANCELLED),
    ],
    ids=["skipped", "cancelled"],
)
async def test_skipping_or_cancelling_keeps_the_reason_without_counting_an_attempt(
    sessions: SessionFactory,
    owner: Owner,
    mark: Callable[[AsyncSession, int, str, str], Awaitable[bool]],
    status: ReminderStatus,
) -> None:
    row = await claimed_one(sessions, owner)

    async with sessions() as session:
        assert await mark(session, row.id or 0, "a", "why")

    stored = await one(sessions, row.id)
    assert (stored.status, stored.attempts, stored.last_error, stored.claimed_by) == (
        status,
        0,
        "why",
        None,
    )


async def test_release_for_retry_makes_the_row_due_again_at_retry_at(
    sessions: SessionFactory, owner: Owner
) -> None:
    row = await claimed_one(sessions, owner, worker="w1")
    retry_at = T0 + timedelta(minutes=2)

    async with sessions() as session:
        assert await store.release_for_retry(
            session, row.id or 0, "w1", retry_at=retry_at, reason="502"
        )
    counted = await one(sessions, row.id)
    early = await claim(sessions, "w2", now=retry_at - timedelta(microseconds=1))
    (again,) = await claim(sessions, "w2", now=retry_at)
    async with sessions() as session:
        assert await store.release_for_retry(
            session, row.id or 0, "w2", retry_at=retry_at, reason="429", count_attempt=False
        )
    not_counted = await one(sessions, row.id)

    assert (counted.status, counted.due_at, counted.attempts, counted.last_error) == (
        ReminderStatus.PENDING,
        retry_at,
        1,
        "502",
    )
    assert (counted.claimed_by, counted.claimed_until) == (None, None)
    assert early == []
    assert again.id == row.id
    assert (not_counted.status, not_counted.attempts, not_counted.last_error) == (
        ReminderStatus.PENDING,
        1,
        "429",
    )


# ------------------------------------------------------------ patient queries


async def test_cancel_open_for_patient_cancels_only_that_patients_pending_rows(
    sessions: SessionFactory, owner: Owner
) -> None:
    other = await add_owner(sessions, chat_id=2002)
    plan = [item("a", 0, 0), item("b", 0, 5), item("c", 0, 10), item("d", 0, 15)]
    await apply(sessions, owner, plan)
    await apply(sessions, other, plan)
    mine = await rows(sessions, owner)
    await force(sessions, mine["a", 0].id, status=ReminderStatus.SENT)
    await force(sessions, mine["b", 0].id, status=ReminderStatus.CLAIMED, claimed_by="w1")
    theirs = dumps(await rows(sessions, other))

    async with sessions() as session:
        cancelled = await store.cancel_open_for_patient(session, owner.patient_id, "blocked")
        await session.commit()

    assert cancelled == 2
    after = await rows(sessions, owner)
    assert {key: (r.status, r.last_error) for key, r in after.items()} == {
        ("a", 0): (ReminderStatus.SENT, None),
        ("b", 0): (ReminderStatus.CLAIMED, None),
        ("c", 0): (ReminderStatus.CANCELLED, "blocked"),
        ("d", 0): (ReminderStatus.CANCELLED, "blocked"),
    }
    assert dumps(await rows(sessions, other)) == theirs


async def test_next_due_at_is_the_earliest_pending_due_time_or_lapsing_claim(
    sessions: SessionFactory, owner: Owner
) -> None:
    async def next_due() -> datetime | None:
        async with sessions() as session:
            return await store.next_due_at(session)

    assert await next_due() is None
    await apply(sessions, owner, [item("old", 0, -60), item("soon", 0, 10), item("late", 0, 20)])
    found = await rows(sessions, owner)
    await force(sessions, found["old", 0].id, status=ReminderStatus.SENT)
    assert await next_due() == at(10)

    await force(sessions, found["late", 0].id, status=ReminderStatus.CLAIMED, claimed_until=at(5))
    lapsing = await next_due()

    assert lapsing == at(5)
    assert lapsing is not None
    assert lapsing.utcoffset() == timedelta(0)


async def test_upcoming_lists_only_pending_rows_after_the_moment_in_order(
    sessions: SessionFactory, owner: Owner
) -> None:
    other = await add_owner(sessions, chat_id=2002)
    await apply(
        sessions,
        owner,
        [
            item("past", 0, -5),
            item("now", 0, 0),
            item("c", 0, 5),
            item("a", 0, 1),
            item("sent", 0, 3),
        ],
    )
    await apply(sessions, other, [item("theirs", 0, 2)])
    await force(sessions, (await rows(sessions, owner))["sent", 0].id, status=ReminderStatus.SENT)

    async with sessions() as session:
        listed = await store.upcoming(session, owner.patient_id, after=T0)
        first = await store.upcoming(session, owner.patient_id, after=T0, limit=1)

    assert [r.step_id for r in listed] == ["a", "c"]
    assert [r.step_id for r in first] == ["a"]


# ------------------------------------------------------------------ datetimes


async def test_datetimes_come_back_as_aware_utc_whatever_zone_went_in(
    sessions: SessionFactory, owner: Owner
) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    due = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=kolkata)
    await apply(sessions, owner, [PlanItem("spf", 0, due)])

    stored = (await rows(sessions, owner))["spf", 0]
    async with sessions() as session:
        untyped: sa.ColumnClause[Any] = sa.column("due_at")  # no type: the raw stored value
        raw = (await session.exec(select(untyped).select_from(sa.table("reminder")))).one()

    assert stored.due_at == due
    assert stored.due_at.tzinfo is UTC
    assert stored.due_at.replace(tzinfo=None) == datetime(2026, 3, 28, 20, 0, 15, 123456)
    assert str(raw).startswith("2026-03-28 20:00:15.123456")  # naive UTC on disk


async def test_a_naive_datetime_is_refused(sessions: SessionFactory, owner: Owner) -> None:
    async with sessions() as session:
        with pytest.raises(StatementError, match="naive"):
            await store.claim_due(
                session, now=datetime(2026, 3, 27, 9, 0), worker="w1", lease=LEASE, limit=1
            )


# ------------------------------------------------------------------ property


_steps = st.sampled_from([("a", 0), ("a", 1), ("b", 0)])
_plans = st.dictionaries(_steps, st.integers(-3, 3), max_size=3)
_workers = st.sampled_from(["w1", "w2"])
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("plan"), _plans),
        # A planner that reads now and writes later, with other operations in between.
        st.tuples(st.just("plan_start"), _plans),
        st.tuples(st.just("plan_finish")),
        st.tuples(st.just("claim"), _workers, st.integers(1, 3)),
        st.tuples(st.just("dispatch"), _workers),  # claim what is due and send it all
        st.tuples(
            st.just("finish"),
            _workers,
            st.integers(0, 4),
            st.sampled_from(["sent", "failed", "skipped", "cancelled", "retry"]),
        ),
        st.tuples(st.just("tick"), st.integers(1, 45)),
    ),
    min_size=8,
    max_size=30,
)


@settings(
    max_examples=30,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=_operations)
async def test_no_reminder_is_sent_twice_whatever_the_history(
    sessions: SessionFactory, owner: Owner, operations: list[tuple[Any, ...]]
) -> None:
    async with sessions() as session:  # one database for every example: start empty
        await session.exec(sa.delete(Reminder))
        await session.commit()
    now = T0
    held: dict[str, list[int]] = {"w1": [], "w2": []}
    sends: dict[int, int] = {}
    messages = 0
    # (session, plan, the rows it read: kept referenced so its identity map keeps them)
    slow: tuple[AsyncSession, list[PlanItem], Sequence[Reminder]] | None = None

    async def send(worker: str, reminder_id: int) -> None:
        nonlocal messages
        messages += 1
        async with sessions() as session:
            if await store.mark_sent(session, reminder_id, worker, message_id=messages, now=now):
                sends[reminder_id] = sends.get(reminder_id, 0) + 1

    def plan_items(wanted: dict[Key, int]) -> list[PlanItem]:
        return [PlanItem(s, o, now + timedelta(seconds=d)) for (s, o), d in wanted.items()]

    async with AsyncExitStack() as stack:
        for operation in operations:
            match operation:
                case ("plan", wanted):
                    await apply(sessions, owner, plan_items(wanted))
                case ("plan_start", wanted) if slow is None:
                    planner = await stack.enter_async_context(sessions())
                    seen = (await planner.exec(select(Reminder))).all()
                    slow = (planner, plan_items(wanted), seen)
                case ("plan_finish",) if slow is not None:
                    planner, items, _ = slow
                    await store.apply_plan(
                        planner,
                        treatment_id=owner.treatment_id,
                        patient_id=owner.patient_id,
                        items=items,
                    )
                    await planner.commit()
                    slow = None
                case ("claim", worker, limit):
                    held[worker] += [r.id or 0 for r in await claim(sessions, worker, now, limit)]
                case ("dispatch", worker):
                    for row in await claim(sessions, worker, now):
                        await send(worker, row.id or 0)
                case ("finish", worker, index, outcome) if held[worker]:
                    reminder_id = held[worker].pop(index % len(held[worker]))
                    async with sessions() as session:
                        if outcome == "sent":
                            await send(worker, reminder_id)
                        elif outcome == "retry":
                            await store.release_for_retry(
                                session, reminder_id, worker, retry_at=now, reason="5xx"
                            )
                        else:
                            mark = {
                                "failed": store.mark_failed,
                                "skipped": store.mark_skipped,
                                "cancelled": store.mark_cancelled,
                            }[outcome]
                            await mark(session, reminder_id, worker, outcome)
                case ("tick", seconds):
                    now += timedelta(seconds=seconds)

    assert all(count == 1 for count in sends.values())
    found = await rows(sessions)
    assert len({r.id for r in found.values()}) == len(found)  # one row per key
    for row in found.values():
        assert row.status in set(ReminderStatus)
        assert (row.status == ReminderStatus.SENT) == (row.id in sends)
        assert (row.status == ReminderStatus.SENT) == (row.sent_message_id is not None)
        assert (row.status == ReminderStatus.CLAIMED) == (row.claimed_by is not None)
        assert (row.status == ReminderStatus.CLAIMED) == (row.claimed_until is not None)
