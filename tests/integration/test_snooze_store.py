"""Snoozed copies and outing cancellations in the outbox, on SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from schedules import store
from schedules.db import SessionFactory
from schedules.models import Reminder, ReminderStatus
from schedules.snooze import snooze_occurrence
from schedules.store import PlanItem
from tests.integration.conftest import T0, Owner, add_owner


async def planned(sessions: SessionFactory, owner: Owner, items: list[PlanItem]) -> None:
    async with sessions() as session:
        await store.apply_plan(
            session, treatment_id=owner.treatment_id, patient_id=owner.patient_id, items=items
        )
        await session.commit()


async def all_rows(sessions: SessionFactory) -> list[Reminder]:
    async with sessions() as session:
        return list((await session.exec(select(Reminder).order_by(Reminder.id))).all())


async def snooze(sessions: SessionFactory, original: Reminder) -> tuple[Reminder, bool]:
    assert original.id is not None
    async with sessions() as session:
        result = await store.add_snoozed(
            session,
            original,
            occurrence=snooze_occurrence(original.id),
            due_at=T0 + timedelta(hours=1),
        )
        await session.commit()
        return result


async def test_a_snooze_is_a_new_row_once_and_replanning_leaves_it_alone(
    sessions: SessionFactory, owner: Owner
) -> None:
    await planned(sessions, owner, [PlanItem("moisturise", 100, T0)])
    [original] = await all_rows(sessions)
    copy, created = await snooze(sessions, original)
    assert created
    assert copy.snoozed_from == original.id
    assert copy.occurrence == -(original.id or 0)
    assert copy.status == ReminderStatus.PENDING
    assert copy.due_at == T0 + timedelta(hours=1)

    again, created_again = await snooze(sessions, original)  # a double tap
    assert not created_again
    assert again.id == copy.id
    assert len(await all_rows(sessions)) == 2

    # A snooze of the snooze is a third row; a re-plan without the step touches neither copy.
    _, created_third = await snooze(sessions, copy)
    assert created_third
    await planned(sessions, owner, [])
    statuses = [(r.snoozed_from is not None, r.status) for r in await all_rows(sessions)]
    assert statuses == [
        (False, ReminderStatus.CANCELLED),
        (True, ReminderStatus.PENDING),
        (True, ReminderStatus.PENDING),
    ]


async def test_cancel_pending_steps_takes_snoozed_copies_and_only_that_patient(
    sessions: SessionFactory, owner: Owner
) -> None:
    neighbour = await add_owner(sessions, chat_id=2002)
    items = [PlanItem("reapply", 1, T0), PlanItem("reapply", 2, T0), PlanItem("other", 0, T0)]
    await planned(sessions, owner, items)
    await planned(sessions, neighbour, items)
    first = next(r for r in await all_rows(sessions) if r.treatment_id == owner.treatment_id)
    await snooze(sessions, first)
    async with sessions() as session:
        cancelled = await store.cancel_pending_steps(
            session, owner.patient_id, {"reapply"}, "indoors"
        )
        await session.commit()
    assert cancelled == 3  # two planned, one snoozed copy
    by_owner = {(r.patient_id, r.step_id, r.occurrence): r.status for r in await all_rows(sessions)}
    assert by_owner[(owner.patient_id, "other", 0)] == ReminderStatus.PENDING
    assert all(
        status == ReminderStatus.PENDING
        for (patient_id, _, _), status in by_owner.items()
        if patient_id == neighbour.patient_id
    )
    async with sessions() as session:
        assert await store.cancel_pending_steps(session, owner.patient_id, set(), "x") == 0
