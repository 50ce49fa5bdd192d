"""/patients and /stats: numbers for the clinic's own staff, nothing for patients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
CODE = "staff-tools-code"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, clinic_name="Glow Clinic", staff_code=CODE)
    try:
        yield started
    finally:
        await stop_world(started)


async def nurse_of(world: World) -> Person:
    nurse = world.person(9001)
    await nurse.says(f"/staff {CODE}", expect="You're now staff")
    return nurse


async def test_patients_counts_stages_flags_and_unreachable(world: World) -> None:
    nurse = await nurse_of(world)
    first = world.person(1001)
    await first.enrols()
    second = world.person(1002)
    await second.enrols()
    await second.says("/stop", expect="Stop all reminders?")
    await second.presses("Yes, stop", expect="Stopped.")
    await world.person(1003).says("/start", expect="Which language")
    overview = await nurse.says("/patients", expect="Patients:")
    text = overview.text or ""
    assert "Patients: 3" in text
    assert "First week after treatment: 1" in text
    assert "Stopped reminders: 1" in text
    assert "Still enrolling: 1" in text


async def test_stats_counts_this_weeks_reminders_checkins_and_reports(world: World) -> None:
    nurse = await nurse_of(world)
    pat = world.person(1001)
    await pat.enrols()
    await world.live_until(START + timedelta(days=2, hours=2))  # day-1 and day-2 mornings
    checkin = next(
        e for e in world.sandbox.bot_messages(pat.user_id) if "Not yet" in str(e.buttons)
    )
    world.sandbox.user_presses_button(pat.user_id, label="Not yet", message_id=checkin.message_id)
    await world.sandbox.wait_for(
        lambda: any("✓ Not yet" in (e.text or "") for e in world.sandbox.bot_messages(pat.user_id)),
        timeout=15,
        what="the answered check-in",
    )
    await pat.says("pus coming from a spot", expect="today")
    stats = await nurse.says("/stats", expect="The last 7 days")
    text = stats.text or ""
    sent = int(text.split("Reminders sent: ")[1].split("\n")[0])
    assert sent >= 5
    assert "Check-ins answered: 1" in text
    assert "1 urgent" in text


async def test_a_patient_cannot_see_clinic_numbers(world: World) -> None:
    pat = world.person(1001)
    await pat.enrols()
    for command in ("/patients", "/stats"):
        reply = await pat.says(command, expect="for clinic staff")
        assert "Patients:" not in (reply.text or "")
