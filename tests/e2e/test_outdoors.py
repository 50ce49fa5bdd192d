"""Outdoor mode through the real bot: SPF now, reapply every 2 hours until the patient is
inside, local evening or the longest outing, whichever comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from messages.render import render_step
from schedules.models import Patient, Reminder, ReminderStatus
from schedules.plans import replan_patient
from schedules.protocol import bundled_protocol
from tests.e2e.harness import World

LONDON = ZoneInfo("Europe/London")
MADRID = ZoneInfo("Europe/Madrid")
REAPPLY = "spf-reapply-outdoors"
REAPPLY_TEXT = render_step(bundled_protocol(), REAPPLY, "en").text


def reapply_messages(world: World, user_id: int) -> int:
    """Reapply reminders in the chat (a closed one carries a "✓ ..." note)."""
    return sum(
        1 for e in world.sandbox.bot_messages(user_id) if (e.text or "").startswith(REAPPLY_TEXT)
    )


async def reapply_rows(world: World, user_id: int, *statuses: ReminderStatus) -> list[Reminder]:
    return [r for r in await world.reminders(user_id, *statuses) if r.step_id == REAPPLY]


async def test_reapply_every_two_hours_at_local_times_and_none_after_inside(world: World) -> None:
    pat = world.person()
    await pat.enrols()  # London; now Fri 27 Mar 09:00 local (GMT)
    await world.settle()
    going_out = world.clock.now()
    reply = await pat.says("/outside", expect="SPF 30")
    text = reply.text or ""
    assert "30 minutes before you go out" in text
    assert all(hour in text for hour in ("11:00", "13:00", "15:00", "17:00")), text
    assert "19:00" not in text  # 09:00 + 8 h: the longest outing ends at 17:00
    # Between the tap and now: pacing the replies moves the test's clock by a second or two.
    assert going_out <= (await world.patient(pat.user_id)).outdoors_since <= world.clock.now()

    out_at = world.clock.now()
    await world.live_until(out_at + timedelta(hours=6))
    sent = await reapply_rows(world, pat.user_id, ReminderStatus.SENT)
    assert [f"{r.due_at.astimezone(LONDON):%H:%M}" for r in sent] == ["11:00", "13:00", "15:00"]
    for row in sent:
        assert row.sent_at is not None
        assert timedelta(0) <= row.sent_at - row.due_at <= timedelta(minutes=30)
    assert reapply_messages(world, pat.user_id) == 3

    inside = await pat.presses("I'm inside", expect="Welcome back inside")
    assert "/outside" in (inside.text or "")
    closed = [
        e for e in world.sandbox.bot_messages(pat.user_id) if e.text and REAPPLY_TEXT in e.text
    ]
    assert closed[-1].text == REAPPLY_TEXT + "\n\n✓ I'm inside"
    assert closed[-1].buttons == ()
    assert (await world.patient(pat.user_id)).outdoors_since is None
    assert await reapply_rows(world, pat.user_id, ReminderStatus.PENDING) == []
    assert len(await reapply_rows(world, pat.user_id, ReminderStatus.CANCELLED)) == 1  # 17:00

    await world.live_until(out_at + timedelta(days=1))
    assert reapply_messages(world, pat.user_id) == 3


async def test_an_outing_ends_by_itself_at_local_evening(world: World) -> None:
    pat = world.person()
    await pat.enrols(place="Europe/Madrid")
    await world.advance_to(datetime(2026, 3, 27, 12, 30, tzinfo=UTC))  # 13:30 in Madrid (CET)
    reply = await pat.says("/outside", expect="SPF 30")
    assert "15:30" in (reply.text or "")
    assert "17:30" in (reply.text or "")
    assert "19:30" not in (reply.text or "")

    # Any re-plan (quiet hours, timezone, treatment date) keeps the outing's reminders.
    pending = {
        r.id: r.due_at for r in await reapply_rows(world, pat.user_id, ReminderStatus.PENDING)
    }
    async with world.daemon.sessions() as session:
        patient = await session.get(Patient, (await world.patient(pat.user_id)).id)
        assert patient is not None
        await replan_patient(session, patient, world.daemon.catalog, now=world.clock.now())
        await session.commit()
    again = {r.id: r.due_at for r in await reapply_rows(world, pat.user_id, ReminderStatus.PENDING)}
    assert again == pending
    assert len(pending) == 2

    await world.live_until(datetime(2026, 3, 27, 22, 0, tzinfo=UTC))  # 23:00 in Madrid
    sent = await reapply_rows(world, pat.user_id)
    assert [f"{r.due_at.astimezone(MADRID):%H:%M}" for r in sent] == ["15:30", "17:30"]
    assert all(r.status == ReminderStatus.SENT for r in sent)
    assert all(r.sent_at and r.sent_at.astimezone(MADRID).hour < 19 for r in sent)
    assert reapply_messages(world, pat.user_id) == 2

    late = await pat.says("/inside", expect="not in outdoor mode")
    assert "/outside" in (late.text or "")


async def test_the_button_on_the_morning_sun_advice_starts_outdoor_mode(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await world.settle()  # Friday's 08:30 sun advice goes out late, at 09:00
    sun_text = render_step(bundled_protocol(), "sun-protection", "en").text
    morning = next(e for e in world.sandbox.bot_messages(pat.user_id) if e.text == sun_text)
    labels = [label for row in morning.buttons for label, _ in row]
    assert labels == ["I'm going outside", "Remind me in 1 hour"]
    assert all(len((data or "").encode()) <= 64 for row in morning.buttons for _, data in row)

    going_out = world.clock.now()
    reply = await pat.presses("I'm going outside", expect="SPF 30")
    assert "11:00" in (reply.text or "")
    assert [label for row in reply.buttons for label, _ in row] == ["I'm inside"]
    assert going_out <= (await world.patient(pat.user_id)).outdoors_since <= world.clock.now()
    edited = next(
        e for e in world.sandbox.bot_messages(pat.user_id) if e.message_id == morning.message_id
    )
    assert edited.text == sun_text + "\n\n✓ I'm going outside"
    assert edited.buttons == ()
    assert len(await reapply_rows(world, pat.user_id, ReminderStatus.PENDING)) == 4

    # The "I'm inside" under the SPF reply ends it before the first reminder.
    await pat.presses("I'm inside", expect="Welcome back inside")
    await world.live_until(world.clock.now() + timedelta(hours=10))
    assert reapply_messages(world, pat.user_id) == 0


async def test_outside_twice_keeps_the_outing_it_started(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await pat.says("/outside", expect="SPF 30")
    started = (await world.patient(pat.user_id)).outdoors_since
    rows = {r.id for r in await reapply_rows(world, pat.user_id, ReminderStatus.PENDING)}
    await world.advance(timedelta(minutes=40))
    reply = await pat.says("/outside", expect="already on")
    assert "11:00" in (reply.text or "")
    assert (await world.patient(pat.user_id)).outdoors_since == started
    assert {r.id for r in await reapply_rows(world, pat.user_id, ReminderStatus.PENDING)} == rows


async def test_outside_before_enrolment_gives_the_advice_and_the_way_in(world: World) -> None:
    pat = world.person()
    reply = await pat.says("/outside", expect="SPF 30")
    assert "/start" in (reply.text or "")
    assert reply.buttons == ()

    await pat.says("/start", expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    await pat.says("Europe/London", expect="Is that right")
    await pat.presses("Yes, that's right", expect="When was your treatment")
    reply = await pat.says("/outside", expect="SPF 30")
    assert "/treated" in (reply.text or "")
    assert (await world.patient(pat.user_id)).outdoors_since is None
    assert await world.reminders(pat.user_id) == []


async def test_inside_without_an_outing_says_so(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    reply = await pat.says("/inside", expect="not in outdoor mode")
    assert "/outside" in (reply.text or "")
    help_reply = await pat.says("/help", expect="/outside")
    assert "/inside" in (help_reply.text or "")


async def test_a_reminder_held_up_past_the_outings_end_is_not_sent(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await pat.says("/outside", expect="SPF 30")  # 09:00 London: reminders 11, 13, 15, 17:00
    await world.live_until(datetime(2026, 3, 27, 16, 0, tzinfo=UTC))
    assert reapply_messages(world, pat.user_id) == 3
    # The daemon was down from 16:00 to 17:20: the 17:00 reminder is within its 30-minute
    # grace, but the outing ended at 17:00 (8 hours), so it stays unsent.
    await world.advance_to(datetime(2026, 3, 27, 17, 20, tzinfo=UTC))
    last = (await reapply_rows(world, pat.user_id))[-1]
    assert last.status == ReminderStatus.SKIPPED
    assert last.last_error == "outing over"
    assert reapply_messages(world, pat.user_id) == 3


async def test_a_reminder_already_claimed_when_the_patient_came_in_is_not_sent(
    world: World,
) -> None:
    pat = world.person()
    await pat.enrols()
    await pat.says("/outside", expect="SPF 30")
    # As if "I'm inside" landed while the dispatcher held the 11:00 row: the row is still
    # pending, but the patient is no longer outdoors when it comes to sending.
    async with world.daemon.sessions() as session:
        patient = await session.get(Patient, (await world.patient(pat.user_id)).id)
        assert patient is not None
        patient.outdoors_since = None
        session.add(patient)
        await session.commit()
    await world.advance_to(datetime(2026, 3, 27, 11, 1, tzinfo=UTC))
    first = (await reapply_rows(world, pat.user_id))[0]
    assert first.status == ReminderStatus.SKIPPED
    assert reapply_messages(world, pat.user_id) == 0


async def test_outside_with_reminders_stopped_points_to_resume(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await pat.says("/stop", expect="Stop all reminders?")
    await pat.presses("Yes, stop", expect="Stopped")
    reply = await pat.says("/outside", expect="SPF 30")
    assert "/resume" in (reply.text or "")
    assert (await world.patient(pat.user_id)).outdoors_since is None
    assert await reapply_rows(world, pat.user_id) == []
