"""Symptoms in the chat: an immediate safe answer, and escalations the clinic cannot miss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedules.models import EscalationState
from tests.e2e.clinic_world import CLINIC, NURSE, alerts, enrolled, reports, staff_joins
from tests.e2e.harness import Person, World, restart_daemon, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, **CLINIC)
    try:
        yield started
    finally:
        await stop_world(started)


async def staff_presses(world: World, nurse: Person, label: str, note: str) -> None:
    """Press a button on the newest message that has it; wait for the message to show ``note``."""
    world.sandbox.user_presses_button(nurse.user_id, label=label)
    await world.sandbox.wait_for(
        lambda: any(note in (m.text or "") for m in world.sandbox.bot_messages(nurse.user_id)),
        timeout=15,
        what=f"a message noting {note!r}",
    )


async def test_an_emergency_is_answered_with_the_emergency_number_first_and_alerted(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    reply = await pat.says("my lips are swelling up and i can't breathe properly", expect="999")
    assert (reply.text or "").startswith("Call 999 now")
    assert "alerted the team at Glow Clinic" in (reply.text or "")
    assert "contact you today" not in (reply.text or "")  # call now; don't wait for a call
    await world.settle()
    [alert] = alerts(nurse)
    assert "EMERGENCY" in alert
    assert "day 1 after treatment" in alert
    assert "Breathing or swallowing difficulty" in alert  # the rule's clinic-facing label
    assert "can't breathe" in alert  # staff see the patient's words


async def test_an_unacknowledged_escalation_re_alerts_until_someone_acknowledges(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    colleague = await staff_joins(world, NURSE + 1)
    pat = await enrolled(world)
    await pat.says("there's yellow crust and pus on my cheek", expect="today")
    await world.settle()
    assert len(alerts(nurse)) == 1
    assert len(alerts(colleague)) == 1
    await world.advance(timedelta(minutes=14))
    assert len(alerts(nurse)) == 1  # not yet: urgent re-alerts every 15 minutes
    await world.advance(timedelta(minutes=1))
    assert len(alerts(nurse)) == 2
    assert "alert 2, not yet acknowledged" in alerts(nurse)[-1]

    await staff_presses(world, colleague, "Acknowledge", "✓ Acknowledged")
    await world.sandbox.wait_for(
        lambda: "has seen your message" in pat.bot_texts()[-1], timeout=15, what="the patient told"
    )
    assert "has seen your message" in pat.bot_texts()[-1]
    await world.advance(timedelta(hours=2))
    assert len(alerts(nurse)) == 2  # no more alerts once acknowledged
    [report] = await reports(world)
    assert report.state == EscalationState.ACKNOWLEDGED


async def test_a_second_acknowledgement_is_told_a_colleague_was_first(world: World) -> None:
    nurse = await staff_joins(world)
    colleague = await staff_joins(world, NURSE + 1)
    pat = await enrolled(world)
    await pat.says("there's yellow crust and pus on my cheek", expect="today")
    await world.settle()
    await staff_presses(world, nurse, "Acknowledge", "✓ Acknowledged")
    world.sandbox.user_presses_button(colleague.user_id, label="Acknowledge")
    await world.sandbox.wait_for(
        lambda: any(
            "colleague" in (e.text or "")
            for e in world.sandbox.transcript(colleague.user_id)
            if e.kind == "callback_answer"
        ),
        timeout=15,
        what="the callback answer",
    )


async def test_an_escalation_survives_a_restart_and_alerts_again(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("blisters around my lips, it tingles", expect="today")
    await world.settle()
    assert len(alerts(nurse)) == 1
    await restart_daemon(world)
    await world.advance(timedelta(minutes=15))
    assert len(alerts(nurse)) == 2


async def test_without_staff_the_patient_is_told_to_call_not_that_anyone_was_alerted(
    world: World,
) -> None:
    pat = await enrolled(world)
    reply = await pat.says("pus coming out of a spot on my chin", expect="today")
    text = reply.text or ""
    assert "alerted" not in text
    assert "Please call Glow Clinic on +44 20 7946 0000" in text


async def test_an_unclear_message_asks_one_question_and_a_red_flag_answer_escalates(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    reply = await pat.says("my skin feels strange", expect="Do you have any of these")
    assert "normal" not in (reply.text or "").lower()
    await world.settle()
    assert alerts(nurse) == []  # not alerted before the answer
    answer = await pat.presses("Fever or shivers", expect="today")
    assert "alerted the team" in (answer.text or "")
    await world.settle()
    [alert] = alerts(nurse)
    assert "URGENT" in alert
    assert "Fever" in alert


async def test_none_of_these_keeps_it_for_review_without_reassurance(world: World) -> None:
    await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("my skin feels strange", expect="Do you have any of these")
    answer = await pat.presses("None of these", expect="review")
    assert "common" not in (answer.text or "")
    [report] = await reports(world)
    assert report.level == "routine_followup"
    assert report.state == EscalationState.OPEN


async def test_expected_redness_on_day_one_is_reassured_and_not_escalated(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    reply = await pat.says("my face is quite red and feels tight", expect="common")
    assert "alerted" not in (reply.text or "")
    await world.settle()
    assert alerts(nurse) == []
    [report] = await reports(world)
    assert report.state == EscalationState.NONE


async def test_routine_reports_wait_in_the_review_queue(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    world.clock.advance(timedelta(days=10))
    await pat.says("still quite red, it hasn't gone away", expect="review")
    await world.settle()
    assert alerts(nurse) == []  # routine: no push
    listing = await nurse.says("/escalations", expect="📝")
    assert "Redness" in (listing.text or "")
    await staff_presses(world, nurse, "Close", "✓ Closed")
    [report] = await reports(world)
    assert report.state == EscalationState.CLOSED


async def test_a_staff_reply_to_an_alert_reaches_the_patient(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("yellow crust on my cheek and it's hot", expect="today")
    await world.settle()
    alert = world.sandbox.bot_messages(nurse.user_id)[-1]
    before = len(pat.bot_texts())
    world.sandbox.user_sends_text(
        nurse.user_id, "Please come in at 3pm today.", reply_to_message_id=alert.message_id
    )
    await world.sandbox.wait_for(
        lambda: len(pat.bot_texts()) > before, timeout=15, what="the relayed reply"
    )
    assert pat.bot_texts()[-1] == "Message from Glow Clinic:\n\nPlease come in at 3pm today."
    [report] = await reports(world)
    assert report.state == EscalationState.ACKNOWLEDGED  # answering is acknowledging
    await world.advance(timedelta(minutes=20))
    listed = await nurse.says("/escalations", expect="⚠️")
    assert "✓ Acknowledged" in (listed.text or "")
    assert "not yet acknowledged" not in (listed.text or "")


async def test_a_patients_photo_goes_to_staff_with_its_context(world: World) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    before = len(pat.bot_texts())
    world.sandbox.user_sends_photo(pat.user_id, caption="is this normal? a bit of peeling")
    await world.sandbox.wait_for(
        lambda: len(pat.bot_texts()) > before, timeout=15, what="the photo's answer"
    )
    assert "sent your photo to the team at Glow Clinic" in pat.bot_texts()[-1]
    await world.settle()
    photo = world.sandbox.bot_messages(nurse.user_id)[-1]
    assert photo.content == "photo"
    assert "day 1 after treatment" in (photo.text or "")
    assert "Peeling" in (photo.text or "")


async def test_a_wrong_staff_code_is_refused(world: World) -> None:
    stranger = world.person(5555)
    reply = await stranger.says("/staff guess", expect="not valid")
    assert reply.text
    refused = await stranger.says("/escalations", expect="for clinic staff")
    assert refused.text


async def test_expected_symptoms_are_not_sent_to_the_clinic_even_without_staff(
    world: World,
) -> None:
    pat = await enrolled(world)
    reply = await pat.says("a bit of peeling and dryness today", expect="common")
    assert "Glow Clinic" not in (reply.text or "")


async def test_an_emergency_answer_outlasts_telegrams_flood_limit(world: World) -> None:
    """Reminders and replies share one pacer; a 429 on the reply is waited out, not lost."""
    pat = await enrolled(world)
    world.sandbox.inject_fault("sendMessage", "429", count=3, chat_id=pat.user_id, retry_after=1)
    reply = await pat.says("my throat is closing and I can't swallow", expect="999")
    assert (reply.text or "").startswith("Call 999 now")
    assert not any("went wrong" in text for text in pat.bot_texts())


async def test_a_red_flag_typed_while_a_date_is_expected_is_still_triaged(world: World) -> None:
    await staff_joins(world)
    pat = world.person(1001)
    await pat.says("/start", expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    await pat.says("Europe/London", expect="Is that right")
    await pat.presses("Yes, that's right", expect="When was your treatment")
    await pat.presses("Yesterday", expect="what time")
    reply = await pat.says("my lips are swelling and it's hard to breathe", expect="999")
    assert "as a date" not in (reply.text or "")
    done = await pat.says("14:00", expect="Is that right")  # the question still stands
    assert done.text
