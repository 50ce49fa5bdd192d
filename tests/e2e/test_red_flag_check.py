"""The red-flag check on days 2 and 5: a warning sign the patient taps reaches the clinic's
staff as an urgent alert; "None of these" is answered, and nobody is alerted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.model import TranscriptEntry
from schedules.models import EscalationState, Reminder, ReminderStatus
from tests.e2e.clinic_world import CLINIC, NURSE, alerts, enrolled, reports, staff_joins
from tests.e2e.harness import Person, World, start_world, stop_world

# Friday 27 March 2026, 09:00 in London; the patient was treated "yesterday" at 14:00, so
# local day 2 is Saturday 28 March and day 5 Tuesday 31 March (after the DST change).
START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
QUESTION = "Any of these since your treatment"
LABELS = [
    "Pus or yellow crust",
    "Fever",
    "Spreading redness",
    "Blisters",
    "Swelling or pain getting worse",
    "None of these",
]
SEEN_TODAY = "Thank you for telling us. This needs to be seen by the clinic today."
ALL_CLEAR = "Good. If any of these appear, write to me straight away or contact your clinic."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, **CLINIC)
    try:
        yield started
    finally:
        await stop_world(started)


async def live_until_check(world: World, pat: Person, step_id: str, local: str) -> Reminder:
    """Let time pass until the check is due; it arrives at its local time with its answers."""
    [row] = [r for r in await world.reminders(pat.user_id) if r.step_id == step_id]
    assert f"{row.due_at.astimezone(LONDON):%a %d %H:%M}" == local
    await world.live_until(row.due_at)
    [sent] = [r for r in await world.reminders(pat.user_id) if r.step_id == step_id]
    assert sent.status == ReminderStatus.SENT
    check = question(world, pat, sent.sent_message_id)
    assert [label for row in check.buttons for label, _ in row] == LABELS
    return sent


def question(world: World, pat: Person, message_id: int | None) -> TranscriptEntry:
    [check] = [m for m in world.sandbox.bot_messages(pat.user_id) if m.message_id == message_id]
    assert QUESTION in (check.text or "")
    return check


async def test_a_warning_sign_on_day_two_alerts_the_staff_and_a_none_on_day_five_does_not(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    sent = await live_until_check(world, pat, "red-flag-check-day-2", "Sat 28 10:30")
    assert alerts(nurse) == []

    reply = await pat.presses("Pus or yellow crust", expect=SEEN_TODAY)
    text = reply.text or ""
    assert text.startswith(SEEN_TODAY)
    assert "I've alerted the team at Glow Clinic; they will contact you today." in text
    assert "If you don't hear from them, call +44 20 7946 0000." in text
    check = question(world, pat, sent.sent_message_id)
    assert not check.buttons  # closed, the choice noted under the question
    assert (check.text or "").endswith("✓ Pus or yellow crust")

    await world.settle()
    [alert] = alerts(nurse)
    assert alert.startswith("⚠️ URGENT")
    assert "day 2 after treatment" in alert
    assert "Findings: Pus or yellow crust" in alert  # the protocol's words for the answer
    [report] = await reports(world)
    assert (report.level, report.source, report.state) == ("urgent", "check", EscalationState.OPEN)
    assert report.findings == ["check:red-flag-check-day-2:pus"]
    assert report.text == "Pus or yellow crust"
    assert report.day == 2

    # A second tap on the same check (a double tap before the buttons went) opens nothing new.
    world.sandbox.user_presses_button(
        pat.user_id,
        callback_data=f"ans:{sent.id}:fever",
        message_id=check.message_id,
        force=True,
    )
    await world.sandbox.wait_for(
        lambda: any(
            "no longer active" in (e.text or "")
            for e in world.sandbox.transcript(pat.user_id)
            if e.kind == "callback_answer"
        ),
        timeout=15,
        what="the second tap refused",
    )
    assert len(await reports(world)) == 1

    world.sandbox.user_presses_button(NURSE, label="Acknowledge")
    await world.sandbox.wait_for(
        lambda: any("✓ Acknowledged" in text for text in nurse.bot_texts()),
        timeout=15,
        what="the acknowledgement",
    )
    await live_until_check(world, pat, "red-flag-check-day-5", "Tue 31 10:30")
    reply = await pat.presses("None of these", expect=ALL_CLEAR)
    assert "alerted" not in (reply.text or "")
    await world.settle()
    [report] = await reports(world)  # still only day 2's
    assert report.state == EscalationState.ACKNOWLEDGED
    assert len(alerts(nurse)) == 1


async def test_none_of_these_opens_no_report_on_either_day(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    for step_id, local in (
        ("red-flag-check-day-2", "Sat 28 10:30"),
        ("red-flag-check-day-5", "Tue 31 10:30"),
    ):
        await live_until_check(world, pat, step_id, local)
        reply = await pat.presses("None of these", expect=ALL_CLEAR)
        assert reply.text == ALL_CLEAR
    await world.settle()
    assert await reports(world) == []
    assert alerts(nurse) == []


async def test_without_staff_a_warning_sign_tells_the_patient_to_call_the_clinic(
    world: World,
) -> None:
    pat = await enrolled(world)
    await live_until_check(world, pat, "red-flag-check-day-2", "Sat 28 10:30")
    reply = await pat.presses("Fever", expect=SEEN_TODAY)
    text = reply.text or ""
    assert "alerted" not in text
    assert "Please call Glow Clinic on +44 20 7946 0000 about this." in text
    [report] = await reports(world)
    assert report.level == "urgent"
    assert report.findings == ["check:red-flag-check-day-2:fever"]
    assert world.clock.now() - report.created_at < timedelta(minutes=1)
