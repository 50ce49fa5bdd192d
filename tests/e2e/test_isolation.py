"""Two clinics on one bot: whatever staff of one type or press, the other's patients, reports,
broadcasts and numbers stay out of their reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from schedules.models import Broadcast, BroadcastStatus, Clinic
from tests.e2e.harness import Person, World, start_world, stop_world
from tests.e2e.test_clinics import new_clinic, owner_of, pressed_and_answered

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
GLOW_OWNER, BRIGHT_OWNER = 9001, 9101
NEWS = "Glow's winter opening hours: 9 to 5."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START)
    try:
        yield started
    finally:
        await stop_world(started)


async def patient_of(world: World, clinic: Clinic, user_id: int) -> Person:
    pat = world.person(user_id)
    await pat.enrols(start=f"/start c-{clinic.patient_code}")
    return pat


async def two_clinics(world: World) -> tuple[Person, Person, Person, Person]:
    glow = await new_clinic(world, "Glow Clinic")
    bright = await new_clinic(world, "Bright Skin")
    glow_owner = await owner_of(world, glow, GLOW_OWNER)
    bright_owner = await owner_of(world, bright, BRIGHT_OWNER)
    glow_patient = await patient_of(world, glow, 1001)
    bright_patient = await patient_of(world, bright, 2001)
    await world.settle()
    return glow_owner, bright_owner, glow_patient, bright_patient


async def test_numbers_and_review_queues_are_per_clinic(world: World) -> None:
    glow_owner, bright_owner, glow_patient, _ = await two_clinics(world)
    await glow_patient.says("yellow crust and pus on my cheek", expect="today")
    await world.settle()
    glow_numbers = await glow_owner.says("/patients", expect="Patients:")
    bright_numbers = await bright_owner.says("/patients", expect="Patients:")
    assert "Patients: 1" in (glow_numbers.text or "")
    assert "Patients: 1" in (bright_numbers.text or "")
    bright_queue = await bright_owner.says("/escalations", expect="Nothing open")
    assert "crust" not in (bright_queue.text or "")
    bright_stats = await bright_owner.says("/stats", expect="The last 7 days")
    assert "0 urgent" in (bright_stats.text or "")
    glow_stats = await glow_owner.says("/stats", expect="The last 7 days")
    assert "1 urgent" in (glow_stats.text or "")


async def test_a_broadcast_reaches_only_its_own_clinics_patients(world: World) -> None:
    glow_owner, bright_owner, glow_patient, bright_patient = await two_clinics(world)
    await glow_owner.says("/broadcast", expect="Send me the message")
    await glow_owner.says(NEWS, expect="Who should receive it?")
    preview = await glow_owner.presses("All active patients", expect="Send it now?")
    assert "Recipients: 1" in (preview.text or "")
    async with world.daemon.sessions() as session:
        draft = (await session.exec(select(Broadcast))).one()

    # Bright's owner forces a press of Glow's Send button: refused, nothing sent.
    mine = world.sandbox.bot_messages(BRIGHT_OWNER)[-1].message_id or 0
    refused = await pressed_and_answered(world, BRIGHT_OWNER, f"bc:send:{draft.id}", mine)
    assert "Glow" not in refused
    async with world.daemon.sessions() as session:
        still = await session.get(Broadcast, draft.id)
    assert still is not None
    assert still.status == BroadcastStatus.DRAFT

    # The progress message goes out before the send is confirmed: wait for the delivery.
    await glow_owner.presses("Send now (1)", expect="📣 Broadcast #")
    await world.sandbox.wait_for(
        lambda: NEWS in glow_patient.bot_texts(), timeout=15, what="Glow's patient reached"
    )
    await world.settle()  # anything else the pass would send has gone too
    assert NEWS not in bright_patient.bot_texts()
    assert NEWS not in bright_owner.bot_texts()
