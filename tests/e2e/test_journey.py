"""A patient's journey through the real bot: PTB over HTTP to the sandbox, a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schedules.models import PatientStatus, ReminderStatus
from tests.e2e.harness import World

LONDON = ZoneInfo("Europe/London")


async def test_enrolment_records_language_timezone_and_treatment(world: World) -> None:
    pat = world.person()
    await pat.says("/start", expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    confirm = await pat.says("Europe/London", expect="Is that right")
    assert "09:00" in (confirm.text or "")  # the local time, confirmed back
    await pat.presses("Yes, that's right", expect="When was your treatment")
    await pat.presses("Yesterday", expect="what time")
    await pat.presses("14:00", expect="Next:")

    patient = await world.patient(pat.user_id)
    assert patient.status == PatientStatus.ACTIVE
    assert patient.timezone == "Europe/London"
    assert patient.consent_at is not None
    await world.settle()
    pending = await world.reminders(pat.user_id, ReminderStatus.PENDING)
    assert pending, "enrolment must plan reminders"
    assert all(r.due_at > world.clock.now() for r in pending)


async def test_each_reminder_arrives_at_its_local_time_outside_quiet_hours(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    enrolled_at = world.clock.now()
    planned = {(r.step_id, r.occurrence): r.due_at for r in await world.reminders(pat.user_id)}
    await world.live_until(enrolled_at + timedelta(days=4))

    sent = await world.reminders(pat.user_id, ReminderStatus.SENT)
    on_time = [r for r in sent if r.due_at > enrolled_at]
    assert len(on_time) >= 8
    for row in sent:
        assert row.sent_at is not None
        assert row.sent_at >= row.due_at
        local = row.sent_at.astimezone(LONDON).time()
        assert 8 <= local.hour < 21, f"{row.step_id} sent at {local}"
    for row in on_time:
        assert row.sent_at is not None
        assert row.sent_at - planned[(row.step_id, row.occurrence)] <= timedelta(minutes=31)
    delivered = [e.message_id for e in world.sandbox.bot_messages(pat.user_id)]
    assert {row.sent_message_id for row in sent} <= set(delivered)
    assert len({row.sent_message_id for row in sent}) == len(sent)  # none doubled


async def test_morning_advice_keeps_its_local_time_across_the_dst_change(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await world.live_until(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
    sent = await world.reminders(pat.user_id, ReminderStatus.SENT)
    heat = {
        r.due_at.astimezone(LONDON).date(): (
            r.due_at.astimezone(LONDON).strftime("%H:%M"),
            r.due_at.hour,
        )
        for r in sent
        if r.step_id == "heat-advice"
    }
    before, after = heat[datetime(2026, 3, 28).date()], heat[datetime(2026, 3, 30).date()]
    assert before == ("09:00", 9)  # GMT
    assert after == ("09:00", 8)  # BST: the same local time is an hour earlier in UTC


async def test_stop_cancels_everything_pending_and_nothing_more_arrives(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await pat.says("/stop", expect="Stop all reminders?")
    await pat.presses("Yes, stop", expect="Stopped")
    assert await world.reminders(pat.user_id, ReminderStatus.PENDING) == []
    await world.settle()  # a message already in flight when the patient tapped may still land
    count = len(pat.bot_texts())
    await world.advance(timedelta(days=5))
    assert len(pat.bot_texts()) == count
    await pat.says("/resume", expect="Next:")
    assert await world.reminders(pat.user_id, ReminderStatus.PENDING)


async def test_a_429_delays_the_reminder_and_it_is_delivered_once(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await world.settle()
    world.sandbox.inject_fault(method="sendMessage", kind="429", retry_after=7)
    first = await world.advance_to_next_due()
    assert first.retried >= 1
    await world.advance(timedelta(seconds=8))
    sent = await world.reminders(pat.user_id, ReminderStatus.SENT)
    assert world.sandbox.stats()["too_many_requests"] == 1
    assert all(r.status != ReminderStatus.FAILED for r in await world.reminders(pat.user_id))
    retried = [
        r
        for r in sent
        if r.last_error is None and r.sent_at and r.sent_at >= r.due_at + timedelta(seconds=7)
    ]
    assert retried, "the throttled reminder must be sent after retry_after"
    assert len({r.sent_message_id for r in sent}) == len(sent)


async def test_a_blocked_bot_marks_the_patient_unreachable_and_stops_sending(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await world.settle()
    world.sandbox.user_blocks_bot(pat.user_id)
    report = await world.advance_to_next_due()
    assert report.unreachable == 1
    assert (await world.patient(pat.user_id)).status == PatientStatus.UNREACHABLE
    assert await world.reminders(pat.user_id, ReminderStatus.PENDING) == []
    calls = world.sandbox.stats()["requests"].get("sendMessage", 0)
    await world.advance(timedelta(days=3))
    assert world.sandbox.stats()["requests"].get("sendMessage", 0) == calls


async def test_a_new_timezone_replans_pending_reminders(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await world.settle()
    before = {
        (r.step_id, r.occurrence): r.due_at
        for r in await world.reminders(pat.user_id, ReminderStatus.PENDING)
    }
    await pat.says("/settings", expect="Your settings")
    await pat.presses("Timezone", expect="Where are you")
    await pat.says("New York", expect="Is that right")
    await pat.presses("Yes, that's right", expect="Next:")
    after = {
        (r.step_id, r.occurrence): r.due_at
        for r in await world.reminders(pat.user_id, ReminderStatus.PENDING)
    }
    common = before.keys() & after.keys()
    assert common
    # Local wall-clock steps keep their local time: 5 hours later in UTC in New York than London.
    day_steps = [k for k in common if k[0] == "heat-advice"]
    assert day_steps
    assert all(
        after[k] - before[k] == timedelta(hours=4) or after[k] - before[k] == timedelta(hours=5)
        for k in day_steps
    )
    assert (await world.patient(pat.user_id)).timezone == "America/New_York"


async def test_a_new_treatment_date_moves_pending_reminders_and_keeps_keys_unique(
    world: World,
) -> None:
    pat = world.person()
    await pat.enrols(day="Yesterday", at="14:00")
    await world.settle()
    makeup_before = [r for r in await world.reminders(pat.user_id) if r.step_id == "makeup-allowed"]
    await pat.says("/treated", expect="When was your treatment")
    await pat.presses("Earlier today", expect="what time")
    await pat.presses("08:00", expect="new session, or are you correcting")
    await pat.presses("Correcting the date", expect="Next:")
    rows = await world.reminders(pat.user_id)
    keys = [(r.step_id, r.occurrence) for r in rows]
    assert len(keys) == len(set(keys))
    makeup_after = [r for r in rows if r.step_id == "makeup-allowed"]
    assert len(makeup_before) == len(makeup_after) == 1
    assert makeup_after[0].due_at == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


async def test_a_registration_at_night_holds_late_reminders_until_morning(world: World) -> None:
    await world.advance_to(datetime(2026, 3, 28, 1, 0, tzinfo=UTC))  # 01:00 in London
    pat = world.person()
    await pat.says("/start", expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    await pat.says("Europe/London", expect="Is that right")
    await pat.presses("Yes, that's right", expect="When was your treatment")
    await pat.presses("Yesterday", expect="what time")
    await pat.presses("14:00", expect="Next:")
    await world.settle()
    assert await world.reminders(pat.user_id, ReminderStatus.SENT) == []
    await world.live_until(datetime(2026, 3, 28, 8, 30, tzinfo=UTC))
    sent = await world.reminders(pat.user_id, ReminderStatus.SENT)
    assert {"expected-effects", "contraindications"} <= {r.step_id for r in sent}
    for row in sent:
        assert row.sent_at is not None
        assert row.sent_at.astimezone(LONDON).hour >= 8
