"""The skin profile through the real bot: questions after enrolment, plans that follow the
answers, the clinic's contraindication flag, /settings changes, and redness past a week."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox.model import TranscriptEntry
from schedules.models import ReminderStatus, SymptomReport
from schedules.profile import patients_with_contraindications
from tests.e2e.harness import Person, World

SKIN_QUESTION = "What is your skin type?"
PIGMENTATION_QUESTION = "darker skin tone"
CONDITIONS_QUESTION = "Does any of these apply to you?"
PIGMENTATION_STEPS = {"pigmentation-watch", "pigmentation-check"}
REDNESS_CHECKIN = "is the redness gone?"


async def question(pat: Person, words: str) -> TranscriptEntry:
    """The newest bot message containing ``words`` (waiting for it if needed)."""

    def found() -> TranscriptEntry | None:
        matches = [e for e in pat.sandbox.bot_messages(pat.user_id) if words in (e.text or "")]
        return matches[-1] if matches else None

    await pat.sandbox.wait_for(lambda: found() is not None, timeout=15, what=repr(words))
    entry = found()
    assert entry is not None
    return entry


def labels(pat: Person, message_id: int | None) -> list[str]:
    for entry in pat.sandbox.bot_messages(pat.user_id):
        if entry.message_id == message_id:
            return [label for row in entry.buttons for label, _ in row]
    return []


async def answer(pat: Person, asked: TranscriptEntry, label: str, expect: str) -> TranscriptEntry:
    """Press ``label`` on the message ``asked`` (not a reminder's button) and await ``expect``."""
    before = len(pat.sandbox.bot_messages(pat.user_id))
    pat.sandbox.user_presses_button(pat.user_id, label=label, message_id=asked.message_id)

    def replied() -> TranscriptEntry | None:
        new = pat.sandbox.bot_messages(pat.user_id)[before:]
        return next((e for e in new if expect in (e.text or "")), None)

    await pat.sandbox.wait_for(lambda: replied() is not None, timeout=15, what=repr(expect))
    entry = replied()
    assert entry is not None
    return entry


async def tick(pat: Person, asked: TranscriptEntry, label: str) -> None:
    """Press a choice of the multi-select ("✓ X" un-ticks X); the message shows the change."""
    pat.sandbox.user_presses_button(pat.user_id, label=label, message_id=asked.message_id)
    shown = label.removeprefix("✓ ") if label.startswith("✓ ") else f"✓ {label}"
    await pat.sandbox.wait_for(
        lambda: shown in labels(pat, asked.message_id), timeout=15, what=f"button {shown!r}"
    )


async def profile(
    pat: Person, skin: str, pigmentation: str, conditions: tuple[str, ...]
) -> TranscriptEntry:
    """Answer the three enrolment questions (no contraindication); return the thanks."""
    skin_asked = await question(pat, SKIN_QUESTION)
    pigmentation_asked = await answer(pat, skin_asked, skin, PIGMENTATION_QUESTION)
    conditions_asked = await answer(pat, pigmentation_asked, pigmentation, CONDITIONS_QUESTION)
    if not conditions:
        return await answer(pat, conditions_asked, "Skip", "Thank you")
    for label in conditions:
        await tick(pat, conditions_asked, label)
    return await answer(pat, conditions_asked, "Done", "Thank you")


async def planned_steps(world: World, pat: Person) -> set[str]:
    return {r.step_id for r in await world.reminders(pat.user_id, ReminderStatus.PENDING)}


async def test_the_questions_come_after_the_plan_and_dry_skin_adds_evening_moisturising(
    world: World,
) -> None:
    pat = world.person()
    await pat.enrols()
    enrolled_at = world.clock.now()
    asked = await question(pat, SKIN_QUESTION)
    texts = pat.bot_texts()
    assert "you can skip any" in (asked.text or "")
    next_at = next(i for i, text in enumerate(texts) if "Your plan is up to date. Next:" in text)
    assert next_at < texts.index(asked.text or "")
    assert "moisturise-evening-dry" not in await planned_steps(world, pat)

    closing = await profile(pat, "Dry", "No", ("None of these",))

    assert "Thank you" in (closing.text or "")
    patient = await world.patient(pat.user_id)
    assert patient.skin_type == "dry"
    assert patient.pigmentation_watch is False
    assert patient.contraindications == []
    assert patient.profile_done_at is not None
    assert enrolled_at <= patient.profile_done_at <= world.clock.now()
    steps = await planned_steps(world, pat)
    assert "moisturise-evening-dry" in steps
    assert not steps & PIGMENTATION_STEPS


async def test_normal_skin_gets_no_evening_moisturiser(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await profile(pat, "Normal", "No", ())
    assert (await world.patient(pat.user_id)).skin_type == "normal"
    steps = await planned_steps(world, pat)
    assert "moisturise-morning" in steps
    assert "moisturise-evening-dry" not in steps


async def test_pigmentation_watch_plans_and_sends_the_dark_patch_advice(world: World) -> None:
    pat = world.person()
    await pat.enrols()  # treated Thursday 26 March 2026, 14:00 in London
    await profile(pat, "Skip", "Yes", ())
    assert (await world.patient(pat.user_id)).pigmentation_watch is True
    assert await planned_steps(world, pat) >= PIGMENTATION_STEPS

    await world.live_until(datetime(2026, 4, 5, 12, 0, tzinfo=UTC), step=timedelta(hours=2))

    sent = {r.step_id for r in await world.reminders(pat.user_id, ReminderStatus.SENT)}
    assert sent >= PIGMENTATION_STEPS
    assert "dark-patches" in sent  # the general advice stays for everyone
    texts = pat.bot_texts()
    assert any("prone to dark patches" in text for text in texts)
    assert any("A quick check for dark patches" in text for text in texts)


async def test_without_pigmentation_watch_no_pigmentation_advice_is_planned(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await profile(pat, "Oily", "Skip", ())
    steps = await planned_steps(world, pat)
    assert not steps & PIGMENTATION_STEPS
    assert "dark-patches" in steps


async def test_a_contraindication_sends_the_patient_to_the_clinic_and_flags_them(
    world: World,
) -> None:
    flagged, clear = world.person(1001), world.person(1002)
    await flagged.enrols()
    await clear.enrols()
    await profile(clear, "Normal", "No", ("None of these",))

    skin_asked = await question(flagged, SKIN_QUESTION)
    pigmentation_asked = await answer(flagged, skin_asked, "Sensitive", PIGMENTATION_QUESTION)
    conditions_asked = await answer(flagged, pigmentation_asked, "No", CONDITIONS_QUESTION)
    await tick(flagged, conditions_asked, "None of these")
    await tick(flagged, conditions_asked, "Rosacea")  # clears "None of these"
    await tick(flagged, conditions_asked, "Eczema")
    await tick(flagged, conditions_asked, "My skin scars easily")
    await tick(flagged, conditions_asked, "✓ My skin scars easily")  # changed their mind
    assert "None of these" in labels(flagged, conditions_asked.message_id)
    told = await answer(flagged, conditions_asked, "Done", "speak with your clinic")

    assert "Rosacea, Eczema" in (told.text or "")
    patient = await world.patient(flagged.user_id)
    assert patient.contraindications == ["rosacea", "eczema"]
    assert patient.profile_done_at is not None
    async with world.daemon.sessions() as session:
        found = await patients_with_contraindications(session)
    assert [p.chat_id for p in found] == [flagged.user_id]


async def test_skipping_everything_finishes_the_profile_and_it_is_not_asked_again(
    world: World,
) -> None:
    pat = world.person()
    await pat.enrols()
    closing = await profile(pat, "Skip", "Skip", ())
    assert "/settings" in (closing.text or "")
    patient = await world.patient(pat.user_id)
    assert patient.profile_done_at is not None
    assert patient.skin_type is None
    assert patient.pigmentation_watch is False
    assert patient.contraindications == []

    await pat.says("/treated", expect="When was your treatment")
    await pat.presses("Earlier today", expect="what time")
    before = len(pat.bot_texts())
    await pat.presses("08:00")
    await pat.sandbox.wait_for(
        lambda: any("Next:" in x or "correcting the date" in x for x in pat.bot_texts()[before:]),
        timeout=15,
        what="the new date registered or questioned",
    )
    if not any("Next:" in x for x in pat.bot_texts()[before:]):  # a course: new or corrected?
        await pat.presses("Correcting the date", expect="Next:")
    await world.settle()
    assert sum(SKIN_QUESTION in text for text in pat.bot_texts()) == 1


async def test_settings_change_dry_to_normal_and_pigmentation_replans(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await profile(pat, "Dry", "No", ())
    assert "moisturise-evening-dry" in await planned_steps(world, pat)

    await pat.says("/settings", expect="Your settings")
    summary = await pat.presses("Skin profile", expect="Your skin profile")
    assert "Skin type: Dry" in (summary.text or "")
    asked = await pat.presses("Skin type", expect=SKIN_QUESTION)
    await answer(pat, asked, "Normal", "Next:")

    assert (await world.patient(pat.user_id)).skin_type == "normal"
    assert "moisturise-evening-dry" not in await planned_steps(world, pat)
    evening = [
        r for r in await world.reminders(pat.user_id) if r.step_id == "moisturise-evening-dry"
    ]
    assert evening
    assert all(r.status == ReminderStatus.CANCELLED for r in evening)

    await pat.says("/settings", expect="Your settings")
    await pat.presses("Skin profile", expect="Your skin profile")
    asked = await pat.presses("Dark patches", expect=PIGMENTATION_QUESTION)
    await answer(pat, asked, "Yes", "Next:")
    assert await planned_steps(world, pat) >= PIGMENTATION_STEPS
    # A changed answer from /settings does not restart the enrolment questions.
    assert sum(CONDITIONS_QUESTION in text for text in pat.bot_texts()) == 1


async def test_settings_can_add_and_clear_a_contraindication(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    await profile(pat, "Normal", "No", ())
    await pat.says("/settings", expect="Your settings")
    await pat.presses("Skin profile", expect="Your skin profile")
    asked = await pat.presses("Skin conditions", expect=CONDITIONS_QUESTION)
    await tick(pat, asked, "Active acne or cold sores on the treated area")
    await answer(pat, asked, "Done", "speak with your clinic")
    assert (await world.patient(pat.user_id)).contraindications == ["active-acne-or-cold-sores"]

    await pat.says("/settings", expect="Your settings")
    summary = await pat.presses("Skin profile", expect="Your skin profile")
    assert "Active acne or cold sores" in (summary.text or "")
    asked = await pat.presses("Skin conditions", expect=CONDITIONS_QUESTION)
    assert "✓ Active acne or cold sores on the treated area" in labels(pat, asked.message_id)
    await tick(pat, asked, "None of these")
    await answer(pat, asked, "Done", "Saved.")
    assert (await world.patient(pat.user_id)).contraindications == []
    async with world.daemon.sessions() as session:
        assert await patients_with_contraindications(session) == []


async def redness_checkin_of_day(world: World, pat: Person, day: int) -> TranscriptEntry:
    """Live until the day's redness check-in (10:00 local) is sent; return its message."""
    rows = await world.reminders(pat.user_id)
    checkin = next(r for r in rows if r.step_id == "redness-checkin" and r.occurrence == day * 100)
    await world.live_until(checkin.due_at + timedelta(minutes=5), step=timedelta(hours=3))
    sent = next(r for r in await world.reminders(pat.user_id) if r.id == checkin.id)
    assert sent.status == ReminderStatus.SENT
    entry = next(
        e for e in pat.sandbox.bot_messages(pat.user_id) if e.message_id == sent.sent_message_id
    )
    assert REDNESS_CHECKIN in (entry.text or "")
    return entry


async def test_redness_not_gone_on_day_8_is_recorded_for_the_clinic_once(world: World) -> None:
    pat = world.person()
    await pat.enrols()  # treated Thursday 26 March, 14:00 in London: day 8 is Friday 3 April
    checkin = await redness_checkin_of_day(world, pat, 8)
    pressed_at = world.clock.now()
    reply = await answer(pat, checkin, "Not yet", "noted it for your clinic")
    assert "If it hurts, spreads or gets worse, contact your clinic" in (reply.text or "")
    first = (await world.patient(pat.user_id)).redness_review_at
    assert first is not None
    assert pressed_at <= first <= world.clock.now()

    checkin = await redness_checkin_of_day(world, pat, 9)
    await answer(pat, checkin, "Not sure", "noted it for your clinic")
    assert (await world.patient(pat.user_id)).redness_review_at == first
    async with world.daemon.sessions() as session:
        reports = (await session.exec(select(SymptomReport))).all()
    assert [(r.level, r.findings, r.day) for r in reports] == [("routine_followup", ["redness"], 8)]


async def test_redness_not_gone_on_day_2_is_expected_and_not_flagged(world: World) -> None:
    pat = world.person()
    await pat.enrols()
    checkin = await redness_checkin_of_day(world, pat, 2)
    reply = await answer(pat, checkin, "Not yet", "I'll ask again tomorrow")
    assert "clinic to review" not in (reply.text or "")
    assert (await world.patient(pat.user_id)).redness_review_at is None


def plan_steps(tmp_path: Path, *answers: str) -> set[str]:
    command = ["plan", "--treated", "2026-03-28T10:00", "--tz", "Europe/London", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", *command, *answers],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {row["step"] for row in json.loads(result.stdout)}


@pytest.mark.own_database
def test_the_plan_command_takes_the_profile_answers(tmp_path: Path) -> None:
    plain = plan_steps(tmp_path)
    answered = plan_steps(tmp_path, "--skin", "dry", "--pigmentation")
    assert answered - plain == PIGMENTATION_STEPS | {"moisturise-evening-dry"}
    assert plan_steps(tmp_path, "--skin-type", "dry") - plain == {"moisturise-evening-dry"}
