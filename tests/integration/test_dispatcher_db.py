"""The dispatcher on real databases: dispatchers side by side, and a dead one's claims.

The only fake is at the wire: a sender that records what it was given.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from sqlmodel import col, select

from schedules import store
from schedules.catalog import ProtocolCatalog
from schedules.clock import FixedClock
from schedules.db import SessionFactory
from schedules.dispatcher import DispatchConfig, Dispatcher, DispatchReport, DueMessage
from schedules.models import Patient, PatientStatus, Reminder, ReminderStatus
from schedules.outbound import Outbound, SendOutcome, Sent
from schedules.plans import replan_patient, set_treatment
from schedules.protocol import bundled_protocol
from tests.integration.conftest import T0

LEASE = timedelta(seconds=30)


class RecordingSender:
    """Accepts every message, as Telegram would, and remembers which reminder it was."""

    def __init__(self) -> None:
        self.reminder_ids: list[int] = []
        self._message_ids = itertools.count(5000)

    async def wait_ready(self, chat_id: int) -> None:
        return None

    async def send(self, message: Outbound) -> SendOutcome:
        await asyncio.sleep(0)  # a real send yields; let the other dispatchers run
        self.reminder_ids.append(int(message.text))
        return Sent(message_id=next(self._message_ids))


def compose(message: DueMessage) -> Outbound:
    return Outbound(chat_id=message.patient.chat_id, text=str(message.reminder_id))


async def enrol(
    sessions: SessionFactory, catalog: ProtocolCatalog, clock: FixedClock, chat_id: int
) -> int:
    """An active patient treated at T0 with the bundled protocol, planned; their id."""
    protocol = await catalog.publish(bundled_protocol())
    assert protocol.id is not None
    async with sessions() as session:
        patient = Patient(
            chat_id=chat_id,
            timezone="Europe/London",
            status=PatientStatus.ACTIVE,
            created_at=clock.now(),
        )
        session.add(patient)
        await session.flush()
        await set_treatment(session, patient, T0, protocol.id, clock.now())
        change = await replan_patient(session, patient, catalog, now=clock.now())
        await session.commit()
    assert change.added > 0
    assert patient.id is not None
    return patient.id


def dispatcher(
    sessions: SessionFactory,
    clock: FixedClock,
    sender: RecordingSender,
    catalog: ProtocolCatalog,
    worker: str,
) -> Dispatcher:
    config = DispatchConfig(worker=worker, batch=4, lease=LEASE, concurrency=2)
    return Dispatcher(sessions, clock, sender, compose, catalog, config, jitter=lambda: 0.5)


async def outbox(sessions: SessionFactory) -> list[Reminder]:
    async with sessions() as session:
        return list((await session.exec(select(Reminder).order_by(col(Reminder.id)))).all())


async def test_dispatchers_side_by_side_send_each_due_reminder_once(
    sessions: SessionFactory,
) -> None:
    clock = FixedClock(T0)
    catalog = ProtocolCatalog(sessions, clock)
    for chat_id in (11, 12, 13):
        await enrol(sessions, catalog, clock, chat_id)
    clock.set(T0 + timedelta(days=3))
    due = [r.id for r in await outbox(sessions) if r.due_at <= clock.now()]
    sender = RecordingSender()
    workers = [dispatcher(sessions, clock, sender, catalog, f"d{n}") for n in range(3)]

    reports = await asyncio.gather(*(w.run_due() for w in workers))

    total = DispatchReport()
    for report in reports:
        total.add(report)
    rows = await outbox(sessions)
    sent = [r.id for r in rows if r.status == ReminderStatus.SENT]
    assert len(sender.reminder_ids) == len(set(sender.reminder_ids))  # nothing sent twice
    assert sorted(sender.reminder_ids) == sent
    assert sent
    assert (total.handled, total.sent) == (len(due), len(sent))
    assert total.lost_claims == 0
    assert all(
        r.status not in {ReminderStatus.PENDING, ReminderStatus.CLAIMED}
        for r in rows
        if r.id in due
    )
    assert all(r.sent_message_id is not None for r in rows if r.status == ReminderStatus.SENT)


async def test_a_dead_dispatchers_claims_are_sent_by_another_once_the_lease_lapses(
    sessions: SessionFactory,
) -> None:
    clock = FixedClock(T0)
    catalog = ProtocolCatalog(sessions, clock)
    await enrol(sessions, catalog, clock, chat_id=21)
    clock.set(T0 + timedelta(hours=26))  # 11:00 in London, outside quiet hours
    async with sessions() as session:  # claims, then dies before sending anything
        orphans = await store.claim_due(
            session, now=clock.now(), worker="dead", lease=LEASE, limit=100
        )
    assert orphans
    sender = RecordingSender()
    live = dispatcher(sessions, clock, sender, catalog, "live")

    while_leased = await live.run_due()
    sent_while_leased = list(sender.reminder_ids)
    async with sessions() as session:
        wake_at = await store.next_due_at(session)
    clock.set(T0 + timedelta(hours=26) + LEASE + timedelta(seconds=1))
    after = await live.run_due()

    assert (while_leased.handled, sent_while_leased) == (0, [])
    assert wake_at is not None
    assert T0 + timedelta(hours=26) < wake_at <= T0 + timedelta(hours=26) + LEASE  # alarm: lapse
    assert after.handled == len(orphans)
    orphan_ids = {r.id for r in orphans}
    assert len(sender.reminder_ids) == len(set(sender.reminder_ids))
    assert set(sender.reminder_ids) <= orphan_ids
    assert sender.reminder_ids
    rows = {r.id: r for r in await outbox(sessions)}
    assert not any(store.is_open(ReminderStatus(rows[i].status)) for i in orphan_ids)


async def test_a_moved_reminder_is_judged_and_re_planned_from_its_planned_time(
    sessions: SessionFactory,
) -> None:
    """The day-2 red-flag check (1 day's grace) is put off past its grace, as quiet hours or
    retries can: a re-plan leaves the move alone, and the dispatcher skips it as stale
    instead of sending it however late."""
    clock = FixedClock(T0)
    catalog = ProtocolCatalog(sessions, clock)
    patient_id = await enrol(sessions, catalog, clock, chat_id=31)
    (check,) = [r for r in await outbox(sessions) if r.step_id == "red-flag-check-day-2"]
    assert check.id is not None
    planned, moved_to = check.due_at, check.due_at + timedelta(days=2)
    clock.set(planned + timedelta(hours=1))
    async with sessions() as session:
        claimed = await store.claim_due(
            session, now=clock.now(), worker="w", lease=LEASE, limit=100
        )
        assert check.id in {r.id for r in claimed}
        await store.release_for_retry(
            session, check.id, "w", retry_at=moved_to, reason="quiet hours", count_attempt=False
        )
        await store.release_claims(session)
        patient = await session.get(Patient, patient_id)
        assert patient is not None
        await replan_patient(session, patient, catalog, now=clock.now())
        await session.commit()
    (kept,) = [r for r in await outbox(sessions) if r.id == check.id]
    assert (kept.status, kept.due_at, kept.planned_at) == (
        ReminderStatus.PENDING,
        moved_to,
        planned,
    )

    clock.set(moved_to)
    sender = RecordingSender()
    await dispatcher(sessions, clock, sender, catalog, "live").run_due()
    (done,) = [r for r in await outbox(sessions) if r.id == check.id]
    assert (done.status, done.last_error) == (ReminderStatus.SKIPPED, "stale")
    assert check.id not in sender.reminder_ids


async def test_a_re_plan_says_why_it_cancels_a_reminder(sessions: SessionFactory) -> None:
    clock = FixedClock(T0)
    catalog = ProtocolCatalog(sessions, clock)
    patient_id = await enrol(sessions, catalog, clock, chat_id=32)
    async with sessions() as session:
        patient = await session.get(Patient, patient_id)
        assert patient is not None
        patient.skin_type = "dry"  # plans the evening moisturiser...
        await replan_patient(session, patient, catalog, now=clock.now())
        patient.skin_type = "oily"  # ...which a correction takes away again
        change = await replan_patient(session, patient, catalog, now=clock.now())
        await session.commit()
    cancelled = [r for r in await outbox(sessions) if r.status == ReminderStatus.CANCELLED]
    assert change.cancelled == len(cancelled) > 0
    assert {r.last_error for r in cancelled} == {store.REPLANNED}


async def test_a_send_on_its_way_at_a_crash_is_never_recorded_as_skipped(
    sessions: SessionFactory,
) -> None:
    """A dead dispatcher had started sending one of its claimed rows; both are stale when
    the next one takes them: that one is "maybe sent", the untouched one skipped."""
    clock = FixedClock(T0)
    catalog = ProtocolCatalog(sessions, clock)
    await enrol(sessions, catalog, clock, chat_id=41)
    checks = [r for r in await outbox(sessions) if r.step_id.startswith("red-flag-check")]
    clock.set(max(r.due_at for r in checks) + timedelta(hours=1))
    async with sessions() as session:
        claimed = await store.claim_due(
            session, now=clock.now(), worker="dead", lease=LEASE, limit=100
        )
        on_its_way = next(r for r in claimed if r.step_id == "red-flag-check-day-2")
        assert on_its_way.id is not None
        assert await store.mark_sending(session, on_its_way.id, "dead", clock.now())
    clock.advance(timedelta(days=3))  # the lease lapsed long ago; both checks are stale
    sender = RecordingSender()
    report = await dispatcher(sessions, clock, sender, catalog, "live").run_due()
    rows = {r.step_id: r for r in await outbox(sessions)}
    day2, day5 = rows["red-flag-check-day-2"], rows["red-flag-check-day-5"]
    assert day2.status == ReminderStatus.MAYBE_SENT
    assert (day2.last_error or "").startswith("stale; a send was on its way")
    assert (day5.status, day5.last_error) == (ReminderStatus.SKIPPED, "stale")
    assert report.maybe_sent == 1
