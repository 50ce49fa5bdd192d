"""Treatment courses through the real bot: numbering, the minimum gap, corrections, the
course-complete message, choosing a course, and `aftercare plan --course`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from schedules.models import Reminder, ReminderStatus, Treatment
from tests.e2e.harness import Person, World
from tests.e2e.test_cli import aftercare

START_NUDGE = "The window for your next session opens now"
END_NUDGE = "The usual window for your next session"
COMPLETE = "Your course of 3 treatments is complete"


async def registers(pat: Person, label: str, progress: str | None = None) -> None:
    """Press ``label``; wait until the plan is made ("Next: ..."), and check that the
    course progress came before it."""
    before = len(pat.bot_texts())
    await pat.presses(label, expect="Next:")
    if progress is not None:
        assert any(progress in text for text in pat.bot_texts()[before:]), pat.bot_texts()[before:]


async def enrol(pat: Person, start: str = "/start", progress: str | None = None) -> None:
    """Enrol with a treatment yesterday at 14:00 London time (26 March 2026, 14:00 UTC)."""
    await pat.says(start, expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    await pat.says("Europe/London", expect="Is that right")
    await pat.presses("Yes, that's right", expect="When was your treatment")
    await pat.presses("Yesterday", expect="what time")
    await registers(pat, "14:00", progress)


async def new_session_now(pat: Person, progress: str | None = None) -> str:
    """Register a new session "just now"; ``progress`` None: expect the too-soon warning,
    and return it."""
    await pat.says("/treated", expect="When was your treatment")
    await pat.presses("Just now", expect="Is this a new session, or are you correcting")
    if progress is None:
        return (await pat.presses("A new session", expect="Register it anyway?")).text or ""
    await registers(pat, "A new session", progress)
    return ""


async def treatments(world: World, chat_id: int) -> list[Treatment]:
    patient = await world.patient(chat_id)
    async with world.daemon.sessions() as session:
        rows = await session.exec(
            select(Treatment).where(Treatment.patient_id == patient.id).order_by(col(Treatment.id))
        )
        return list(rows.all())


async def rows_of(world: World, treatment: Treatment) -> list[Reminder]:
    async with world.daemon.sessions() as session:
        rows = await session.exec(
            select(Reminder)
            .where(Reminder.treatment_id == treatment.id)
            .order_by(col(Reminder.due_at))
        )
        return list(rows.all())


def pending_steps(rows: list[Reminder]) -> set[str]:
    return {r.step_id for r in rows if r.status == ReminderStatus.PENDING}


def due_of(rows: list[Reminder], step_id: str) -> datetime:
    return next(r.due_at for r in rows if r.step_id == step_id)


def said(pat: Person, words: str) -> int:
    return sum(words in text for text in pat.bot_texts())


async def test_a_collagen_course_counts_three_sessions_then_says_it_is_complete(
    world: World,
) -> None:
    pat = world.person()
    await enrol(pat, "/start course-collagen", "Collagen induction: treatment 1 of 3.")
    (first,) = await treatments(world, pat.user_id)
    assert (first.course, first.course_number, first.active) == ("collagen", 1, True)

    # The collagen window opens two weeks later: 9 April, 11:00 in London (BST).
    first_rows = await rows_of(world, first)
    assert due_of(first_rows, "book-next-session-start") == datetime(2026, 4, 9, 10, tzinfo=UTC)
    assert due_of(first_rows, "book-next-session-end") == datetime(2026, 4, 23, 10, tzinfo=UTC)
    assert "course-complete" not in {r.step_id for r in first_rows}
    await world.advance_to(datetime(2026, 4, 9, 10, tzinfo=UTC))
    assert said(pat, f"{START_NUDGE} – it's usually 2–4 weeks after the last one") == 1

    await new_session_now(pat, "Collagen induction: treatment 2 of 3.")
    old, second = await treatments(world, pat.user_id)
    assert not old.active
    assert (second.course, second.course_number, second.active) == ("collagen", 2, True)
    old_rows = await rows_of(world, old)
    assert pending_steps(old_rows) == set()
    assert any(
        r.step_id == "book-next-session-end" and r.status == ReminderStatus.CANCELLED
        for r in old_rows
    )
    assert pending_steps(await rows_of(world, second)) >= {
        "book-next-session-start",
        "book-next-session-end",
    }
    plan = await pat.says("/plan", expect="Coming up")
    assert (plan.text or "").startswith("Collagen induction: treatment 2 of 3.\nComing up")

    await world.advance_to(datetime(2026, 4, 23, 10, tzinfo=UTC))  # 14 days later
    await new_session_now(pat, "treatment 3 of 3, the last of your course")
    third = (await treatments(world, pat.user_id))[-1]
    assert (third.course_number, third.active) == (3, True)
    third_rows = await rows_of(world, third)
    assert "course-complete" in pending_steps(third_rows)
    assert not {"book-next-session-start", "book-next-session-end"} & {
        r.step_id for r in third_rows
    }

    starts, ends = said(pat, START_NUDGE), said(pat, END_NUDGE)
    await world.advance_to(due_of(third_rows, "course-complete"))
    assert due_of(third_rows, "course-complete") == datetime(2026, 5, 7, 10, tzinfo=UTC)
    assert said(pat, COMPLETE) == 1
    await world.advance(timedelta(days=30))  # past where a booking window would have closed
    assert (said(pat, START_NUDGE), said(pat, END_NUDGE)) == (starts, ends)
    assert said(pat, COMPLETE) == 1


async def test_a_session_sooner_than_the_minimum_gap_warns_and_needs_confirmation(
    world: World,
) -> None:
    pat = world.person()
    await enrol(pat, "/start course-collagen")
    await world.advance_to(datetime(2026, 4, 2, 10, tzinfo=UTC))  # 7 days after the first
    warning = await new_session_now(pat)
    assert "only 7 days after your last one" in warning
    assert "The usual gap is at least 2 weeks; please check with your clinic." in warning
    await pat.presses("No, cancel", expect="Nothing changed")
    assert [t.course_number for t in await treatments(world, pat.user_id)] == [1]

    await new_session_now(pat)
    await registers(pat, "Yes, register it", "Collagen induction: treatment 2 of 3.")
    assert [(t.course_number, t.active) for t in await treatments(world, pat.user_id)] == [
        (1, False),
        (2, True),
    ]


async def test_the_standard_course_warns_below_four_weeks(world: World) -> None:
    pat = world.person()
    await enrol(pat)
    await world.advance_to(datetime(2026, 4, 16, 10, tzinfo=UTC))  # 21 days later
    assert "The usual gap is at least 4 weeks" in await new_session_now(pat)
    await registers(pat, "Yes, register it", "Standard: treatment 2.")
    assert [t.course for t in await treatments(world, pat.user_id)] == ["standard"] * 2


async def test_correcting_the_date_moves_the_treatment_and_keeps_its_number(
    world: World,
) -> None:
    pat = world.person()
    await enrol(pat, "/start course-scars", "Scar reduction: treatment 1 of 6.")
    await world.advance_to(datetime(2026, 4, 30, 10, tzinfo=UTC))
    await new_session_now(pat, "Scar reduction: treatment 2 of 6.")
    (_, second) = await treatments(world, pat.user_id)

    await pat.says("/treated", expect="When was your treatment")
    await pat.presses("Earlier today", expect="what time")
    await pat.presses("08:00", expect="Is this a new session, or are you correcting")
    await registers(pat, "Correcting the date", "Scar reduction: treatment 2 of 6.")
    (_, corrected) = await treatments(world, pat.user_id)
    assert corrected.id == second.id
    assert (corrected.course, corrected.course_number) == ("scars", 2)
    assert corrected.treated_at == datetime(2026, 4, 30, 7, tzinfo=UTC)  # 08:00 BST
    rows = await rows_of(world, corrected)
    assert due_of(rows, "book-next-session-start") == datetime(2026, 5, 28, 10, tzinfo=UTC)


async def test_a_new_session_asks_about_redness_again(world: World) -> None:
    pat = world.person()
    await enrol(pat)
    await world.advance_to(datetime(2026, 3, 27, 10, tzinfo=UTC))  # day 1, 10:00 London
    await pat.presses("Yes, it's gone", expect="Great news")
    assert (await world.patient(pat.user_id)).redness_gone_at is not None

    await world.advance_to(datetime(2026, 4, 23, 10, tzinfo=UTC))  # four weeks later
    await new_session_now(pat, "Standard: treatment 2.")
    assert (await world.patient(pat.user_id)).redness_gone_at is None
    await world.advance_to(datetime(2026, 4, 24, 9, tzinfo=UTC))  # next day, 10:00 BST
    second = (await treatments(world, pat.user_id))[-1]
    sent = {r.step_id for r in await rows_of(world, second) if r.status == ReminderStatus.SENT}
    assert {"heat-advice", "redness-checkin"} <= sent


async def test_a_new_session_cannot_be_before_the_last_one(world: World) -> None:
    pat = world.person()
    await enrol(pat)
    await pat.says("/treated", expect="When was your treatment")
    await pat.presses("Another day", expect="Type the date")
    await pat.says("20.03 10:00", expect="Is that right?")
    await pat.presses("Yes", expect="Is this a new session")
    await pat.presses("A new session", expect="has to be after your last treatment")
    assert [t.course_number for t in await treatments(world, pat.user_id)] == [1]


async def test_the_course_can_be_changed_in_settings_and_the_plan_follows(
    world: World,
) -> None:
    pat = world.person()
    await enrol(pat)
    (treatment,) = await treatments(world, pat.user_id)
    assert treatment.course == "standard"
    assert due_of(await rows_of(world, treatment), "book-next-session-start") == datetime(
        2026, 4, 23, 10, tzinfo=UTC
    )
    await pat.says("/settings", expect="Your settings")
    choice = await pat.presses("Treatment course", expect="Which treatment course")
    assert "Collagen induction: 3 treatments, 2–4 weeks apart" in (choice.text or "")
    assert "Standard: a session every 4–6 weeks" in (choice.text or "")
    await registers(pat, "Collagen induction", "Your course is now: Collagen induction.")
    (changed,) = await treatments(world, pat.user_id)
    assert (changed.course, changed.course_number) == ("collagen", 1)
    rows = await rows_of(world, changed)
    pending = [r for r in rows if r.status == ReminderStatus.PENDING]
    assert due_of(pending, "book-next-session-start") == datetime(2026, 4, 9, 10, tzinfo=UTC)
    assert [r.due_at for r in rows if r.step_id == "book-next-session-start"] == [
        datetime(2026, 4, 9, 10, tzinfo=UTC),  # the standard day-28 row is cancelled
        datetime(2026, 4, 23, 10, tzinfo=UTC),
    ]


@pytest.mark.own_database
def test_plan_shows_a_collagen_course_without_a_chat(tmp_path: Path) -> None:
    base = ("plan", "--treated", "2026-03-28T10:00", "--tz", "Europe/London", "--json")
    first = aftercare(*base, "--course", "collagen", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = {row["step"]: row for row in json.loads(first.stdout)}
    assert rows["book-next-session-start"]["due_local"] == "2026-04-11T11:00:00+01:00"
    assert rows["book-next-session-end"]["due_local"] == "2026-04-25T11:00:00+01:00"
    assert "usually 2–4 weeks after" in rows["book-next-session-start"]["text"]
    assert "course-complete" not in rows

    last = aftercare(*base, "--course", "collagen", "--session", "3", "--locale", "de")
    assert last.returncode == 0, last.stderr
    steps = {row["step"]: row for row in json.loads(last.stdout)}
    assert not {"book-next-session-start", "book-next-session-end"} & steps.keys()
    assert "Behandlungsreihe mit 3 Sitzungen" in steps["course-complete"]["text"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.own_database
def test_plan_refuses_an_unknown_course() -> None:
    result = aftercare("plan", "--treated", "2026-03-28T10:00", "--tz", "UTC", "--course", "x")
    assert result.returncode == 2
    assert "standard, collagen, scars" in result.stdout + result.stderr
