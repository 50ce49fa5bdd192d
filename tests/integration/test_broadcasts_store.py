"""Broadcasts as an outbox, on SQLite and Postgres: segments pick the right patients, a
confirmation fills the delivery rows once, claims never overlap, a cancel stops the rest."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import col, select

from schedules import broadcasts, deliveries, segments
from schedules.broadcasts import BroadcastError
from schedules.db import SessionFactory
from schedules.leader import claims_of_others
from schedules.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    Clinic,
    DeliveryStatus,
    Patient,
    PatientStatus,
    Protocol,
    Reminder,
    ReminderStatus,
    Staff,
    Treatment,
)
from schedules.segments import (
    Everyone,
    InCourse,
    OnProtocol,
    Recent,
    Segment,
    SegmentError,
    parse_segment,
)
from tests.integration.conftest import T0

LEASE = timedelta(minutes=2)


@dataclass
class Town:
    """Two clinics and their patients, by name."""

    glow: int
    other: int
    ids: dict[str, int]


async def _protocol(sessions: SessionFactory, slug: str) -> int:
    async with sessions() as session:
        row = Protocol(slug=slug, version=1, checksum=slug, body={}, created_at=T0)
        session.add(row)
        await session.commit()
        assert row.id is not None
        return row.id


async def _patient(
    sessions: SessionFactory,
    chat_id: int,
    clinic_id: int | None,
    status: PatientStatus = PatientStatus.ACTIVE,
    treatment: tuple[int, timedelta, str, int] | None = None,
) -> int:
    """A patient; ``treatment`` is (protocol id, how long ago, course, session)."""
    async with sessions() as session:
        patient = Patient(chat_id=chat_id, clinic_id=clinic_id, status=status, created_at=T0)
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        if treatment is not None:
            protocol_id, ago, course, number = treatment
            session.add(
                Treatment(
                    patient_id=patient.id,
                    protocol_id=protocol_id,
                    treated_at=T0 - ago,
                    course=course,
                    course_number=number,
                    created_at=T0,
                )
            )
        await session.commit()
        return patient.id


@pytest.fixture
async def town(sessions: SessionFactory) -> Town:
    async with sessions() as session:
        glow = Clinic(slug="glow", name="Glow", created_at=T0)
        other = Clinic(slug="other", name="Other", created_at=T0)
        session.add_all([glow, other])
        await session.commit()
        assert glow.id is not None
        assert other.id is not None
    needles = await _protocol(sessions, "microneedling")
    peels = await _protocol(sessions, "peel")
    day = timedelta(days=1)
    ids = {
        "fresh": await _patient(sessions, 1, glow.id, treatment=(needles, 2 * day, "standard", 1)),
        "month": await _patient(sessions, 2, glow.id, treatment=(needles, 20 * day, "collagen", 2)),
        "peeled": await _patient(sessions, 3, glow.id, treatment=(peels, 40 * day, "collagen", 1)),
        "untreated": await _patient(sessions, 4, glow.id),
        "stopped": await _patient(
            sessions, 5, glow.id, PatientStatus.STOPPED, (needles, day, "standard", 1)
        ),
        "unreachable": await _patient(
            sessions, 6, glow.id, PatientStatus.UNREACHABLE, (needles, day, "standard", 1)
        ),
        "onboarding": await _patient(sessions, 7, glow.id, PatientStatus.ONBOARDING),
        "elsewhere": await _patient(sessions, 8, other.id, treatment=(needles, day, "standard", 1)),
        "unassigned": await _patient(sessions, 9, None, treatment=(needles, day, "standard", 1)),
    }
    return Town(glow.id, other.id, ids)


async def chosen(town: Town, sessions: SessionFactory, segment: Segment, **kw: bool) -> set[str]:
    names = {patient_id: name for name, patient_id in town.ids.items()}
    async with sessions() as session:
        rows = await session.exec(segments.recipients(town.glow, segment, T0, **kw))
        return {names[i] for i in rows.all() if i is not None}


async def test_segments_pick_the_clinics_active_patients_only(
    town: Town, sessions: SessionFactory
) -> None:
    assert await chosen(town, sessions, Everyone()) == {"fresh", "month", "peeled", "untreated"}
    assert await chosen(town, sessions, Recent(7)) == {"fresh"}
    assert await chosen(town, sessions, Recent(30)) == {"fresh", "month"}
    assert await chosen(town, sessions, OnProtocol("microneedling")) == {"fresh", "month"}
    assert await chosen(town, sessions, OnProtocol("peel")) == {"peeled"}
    assert await chosen(town, sessions, InCourse("collagen")) == {"month", "peeled"}
    assert await chosen(town, sessions, InCourse("collagen", 2)) == {"month"}
    assert await chosen(town, sessions, InCourse("scar")) == set()


async def test_the_default_clinic_also_reaches_patients_with_no_clinic(
    town: Town, sessions: SessionFactory
) -> None:
    reached = await chosen(town, sessions, Recent(7), include_unassigned=True)
    assert reached == {"fresh", "unassigned"}


async def test_segment_choices_name_what_active_patients_are_on(
    town: Town, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        slugs, courses = await segments.segment_choices(session, town.glow)
    assert slugs == ["microneedling", "peel"]
    assert courses == [("collagen", 1), ("collagen", 2), ("standard", 1)]


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("all", Everyone()),
        ("recent:7", Recent(7)),
        ("protocol:microneedling", OnProtocol("microneedling")),
        ("course:collagen", InCourse("collagen")),
        ("course:collagen:2", InCourse("collagen", 2)),
    ],
)
def test_segments_read_and_round_trip(text: str, segment: Segment) -> None:
    assert parse_segment(text) == segment
    assert segment.as_text() == text
    assert segments.segment_from_json(segments.segment_json(segment)) == segment


@pytest.mark.parametrize(
    "text", ["", "everyone", "recent", "recent:0", "recent:x", "protocol:", "course:a:0", "all:1"]
)
def test_a_wrong_segment_is_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(SegmentError, match=r"recent:<days>|whole number|unknown segment"):
        parse_segment(text)


async def draft(
    sessions: SessionFactory, clinic_id: int, segment: Segment | None = None, text: str = "Hi"
) -> int:
    async with sessions() as session:
        made = await broadcasts.create_draft(
            session, clinic_id=clinic_id, now=T0, text=text, segment=segment or Everyone()
        )
        assert made.id is not None
        return made.id


async def confirm(sessions: SessionFactory, broadcast_id: int) -> int | None:
    async with sessions() as session:
        return await broadcasts.confirm(session, broadcast_id, T0)


async def delivery_rows(sessions: SessionFactory, broadcast_id: int) -> list[BroadcastDelivery]:
    async with sessions() as session:
        rows = await session.exec(
            select(BroadcastDelivery)
            .where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
            .order_by(col(BroadcastDelivery.id))
        )
        return list(rows.all())


async def test_confirming_fills_one_row_per_recipient_once(
    town: Town, sessions: SessionFactory
) -> None:
    broadcast_id = await draft(sessions, town.glow)
    first, second, third = await asyncio.gather(
        confirm(sessions, broadcast_id),
        confirm(sessions, broadcast_id),
        confirm(sessions, broadcast_id),
    )
    assert sorted([first, second, third], key=str) == [4, None, None]
    assert await confirm(sessions, broadcast_id) is None
    rows = await delivery_rows(sessions, broadcast_id)
    assert [r.patient_id for r in rows] == sorted(
        town.ids[name] for name in ("fresh", "month", "peeled", "untreated")
    )
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    async with sessions() as session:
        found = await session.get(Broadcast, broadcast_id)
        assert found is not None
        assert found.status == BroadcastStatus.SENDING
        assert found.confirmed_at == T0


async def test_a_draft_without_a_segment_or_a_message_is_not_confirmed(
    town: Town, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        empty = await broadcasts.create_draft(session, clinic_id=town.glow, now=T0)
        assert empty.id is not None
        assert await broadcasts.awaiting_content(session, [], T0) is None
    assert await confirm(sessions, empty.id) is None  # no segment yet
    with pytest.raises(BroadcastError, match="at most 4096"):
        await draft(sessions, town.glow, text="x" * 4097)


async def claim(
    sessions: SessionFactory, worker: str, limit: int = 100, at: object = T0
) -> list[int]:
    async with sessions() as session:
        rows = await deliveries.claim_deliveries(
            session,
            now=at,
            worker=worker,
            lease=LEASE,
            limit=limit,  # type: ignore[arg-type]
        )
        return [r.delivery_id for r in rows]


async def many_patients(sessions: SessionFactory, clinic_id: int, count: int) -> None:
    async with sessions() as session:
        session.add_all(
            Patient(
                chat_id=10_000 + i, clinic_id=clinic_id, status=PatientStatus.ACTIVE, created_at=T0
            )
            for i in range(count)
        )
        await session.commit()


async def test_two_claimers_never_share_a_delivery(town: Town, sessions: SessionFactory) -> None:
    await many_patients(sessions, town.glow, 300)
    broadcast_id = await draft(sessions, town.glow)
    total = await confirm(sessions, broadcast_id)
    assert total == 304
    claimed: list[int] = []
    while True:
        first, second = await asyncio.gather(
            claim(sessions, "one", limit=25), claim(sessions, "two", limit=25)
        )
        if not first and not second:
            break
        assert not set(first) & set(second)
        claimed += first + second
    assert len(claimed) == len(set(claimed)) == total


async def test_a_lapsed_claim_comes_back_and_a_retry_waits_its_turn(
    town: Town, sessions: SessionFactory
) -> None:
    broadcast_id = await draft(sessions, town.glow, Recent(30))
    await confirm(sessions, broadcast_id)
    fresh, month = await claim(sessions, "dead")
    assert await claim(sessions, "alive") == []
    later = T0 + LEASE + timedelta(seconds=1)
    assert await claim(sessions, "alive", at=later) == [fresh, month]
    async with sessions() as session:
        await deliveries.release(
            session, fresh, "alive", not_before=later + timedelta(minutes=5), reason="502"
        )
        # The dead process's late answer is not recorded: the row is someone else's now.
        assert not await deliveries.mark_sent(session, month, "dead", message_id=1, now=later)
        assert await deliveries.mark_sent(session, month, "alive", message_id=2, now=later)
    assert await claim(sessions, "alive", at=later + timedelta(minutes=4)) == []
    async with sessions() as session:
        due = await deliveries.next_due(session, later)
    assert due == later + timedelta(minutes=5)
    assert await claim(sessions, "alive", at=later + timedelta(minutes=5)) == [fresh]


async def test_cancel_stops_the_pending_deliveries_and_leaves_the_sent_ones(
    town: Town, sessions: SessionFactory
) -> None:
    await many_patients(sessions, town.glow, 6)
    broadcast_id = await draft(sessions, town.glow)
    await confirm(sessions, broadcast_id)
    first, second, *_ = await claim(sessions, "w", limit=3)
    async with sessions() as session:
        await deliveries.mark_sent(session, first, "w", message_id=7, now=T0)
        assert await broadcasts.cancel(session, broadcast_id, T0)
        assert not await broadcasts.cancel(session, broadcast_id, T0)  # once
        # Nothing more is handed out, and nothing is finished while a claim is out.
        assert await deliveries.ready_to_finish(session) == []
    assert await claim(sessions, "w", at=T0 + timedelta(minutes=1)) == []
    async with sessions() as session:
        counts = await broadcasts.progress(session, broadcast_id)
        assert (counts.sent, counts.claimed, counts.cancelled, counts.pending) == (1, 2, 7, 0)
        await deliveries.mark_cancelled(session, second, "w")
    # The other claim lapses (its process died): back to pending, then swept as cancelled.
    async with sessions() as session:
        await deliveries.claim_deliveries(
            session, now=T0 + 2 * LEASE, worker="x", lease=LEASE, limit=10
        )
        [ready] = await deliveries.ready_to_finish(session)
        assert ready.id == broadcast_id
        assert await deliveries.mark_finished(session, ready, T0)
        counts = await broadcasts.progress(session, broadcast_id)
    assert (counts.sent, counts.cancelled, counts.open) == (1, 9, 0)


async def test_outcomes_are_counted_and_a_blocked_patient_becomes_unreachable(
    town: Town, sessions: SessionFactory
) -> None:
    broadcast_id = await draft(sessions, town.glow)
    await confirm(sessions, broadcast_id)
    fresh, month, peeled, untreated = await claim(sessions, "w")
    async with sessions() as session:
        treatment = (
            await session.exec(select(Treatment).where(Treatment.patient_id == town.ids["month"]))
        ).one()
        assert treatment.id is not None
        session.add(
            Reminder(
                treatment_id=treatment.id,
                patient_id=town.ids["month"],
                step_id="spf",
                occurrence=1,
                due_at=T0 + timedelta(hours=1),
            )
        )
        await session.commit()
        await deliveries.mark_sent(session, fresh, "w", message_id=1, now=T0)
        await deliveries.mark_blocked(
            session, month, "w", patient_id=town.ids["month"], reason="forbidden"
        )
        await deliveries.mark_skipped(session, peeled, "w", "patient stopped")
        await deliveries.mark_failed(session, untreated, "w", "400")
        counts = await broadcasts.progress(session, broadcast_id)
        assert (counts.total, counts.sent, counts.blocked, counts.skipped, counts.failed) == (
            4,
            1,
            1,
            1,
            1,
        )
        blocked = await session.get(Patient, town.ids["month"], populate_existing=True)
        assert blocked is not None
        assert blocked.status == PatientStatus.UNREACHABLE
        reminder = (await session.exec(select(Reminder))).one()
        assert reminder.status == ReminderStatus.CANCELLED
        assert await deliveries.next_due(session, T0) == T0  # finished, not yet reported
        [ready] = await deliveries.ready_to_finish(session)
        assert await deliveries.mark_finished(session, ready, T0)
        assert not await deliveries.mark_finished(session, ready, T0)
        assert await deliveries.next_due(session, T0) is None
        done = await session.get(Broadcast, broadcast_id, populate_existing=True)
        assert done is not None
        assert done.status == BroadcastStatus.DONE


async def test_a_delivery_row_written_by_hand_is_delivered_too(
    town: Town, sessions: SessionFactory
) -> None:
    """Protocol updates insert a SENDING broadcast and its rows directly."""
    async with sessions() as session:
        note = Broadcast(
            clinic_id=town.glow,
            text="Protocol change",
            status=BroadcastStatus.SENDING,
            created_at=T0,
        )
        session.add(note)
        await session.flush()
        assert note.id is not None
        session.add(BroadcastDelivery(broadcast_id=note.id, patient_id=town.ids["fresh"]))
        await session.commit()
        assert await deliveries.next_due(session, T0) == T0
    assert len(await claim(sessions, "w")) == 1


async def test_a_new_compose_drops_the_old_unsent_draft_but_not_a_change_note(
    town: Town, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        nurse = Staff(clinic_id=town.glow, user_id=77, created_at=T0)
        session.add(nurse)
        await session.commit()
        assert nurse.id is not None
        old = await broadcasts.create_draft(
            session, clinic_id=town.glow, now=T0, created_by=nurse.id
        )
        note = Broadcast(
            clinic_id=town.glow,
            created_by=nurse.id,
            text="Your plan changed",
            segment={"kind": "protocol_update"},
            created_at=T0,
        )
        session.add(note)
        await session.commit()
        waiting = await broadcasts.awaiting_content(session, [nurse.id], T0)
        assert waiting is not None
        assert waiting.id == old.id
        assert (
            await broadcasts.awaiting_content(session, [nurse.id], T0 + timedelta(hours=1)) is None
        )
        assert await broadcasts.drop_drafts(session, nurse.id, T0) == 1
        await session.refresh(old)
        await session.refresh(note)
    assert old.status == BroadcastStatus.CANCELLED
    assert note.status == BroadcastStatus.DRAFT


async def test_a_new_leader_counts_the_deliveries_another_worker_holds(
    town: Town, sessions: SessionFactory
) -> None:
    """``claims_of_others`` decides whether a new leader waits before adopting claims: a
    broadcast batch held by a live ex-leader must count, as its reminders do."""
    broadcast_id = await draft(sessions, town.glow, Recent(30))
    await confirm(sessions, broadcast_id)
    held = await claim(sessions, "old-leader")
    assert held
    async with sessions() as session:
        assert await claims_of_others(session, "new-leader") == len(held)
        assert await claims_of_others(session, "old-leader") == 0
