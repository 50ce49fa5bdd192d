"""/export sends a patient their data; /forget deletes it after a confirmation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from schedules.models import Patient, Reminder, SymptomReport, Treatment
from tests.e2e.clinic_world import CLINIC, enrolled, staff_joins
from tests.e2e.harness import Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, **CLINIC)
    try:
        yield started
    finally:
        await stop_world(started)


async def exported(world: World, pat: Person) -> dict[str, Any]:
    """Ask for /export and read the document back through getFile."""
    entry = await pat.says("/export")
    assert entry.content == "document"
    assert entry.file_id is not None
    assert world.daemon.application is not None
    file = await world.daemon.application.bot.get_file(entry.file_id)
    assert file.file_path is not None
    path = file.file_path.rsplit("/file/bot", 1)[-1].split("/", 1)[-1]
    data: dict[str, Any] = json.loads(world.sandbox.download(path))
    return data


async def rows(world: World, table: type) -> list[Any]:
    async with world.daemon.sessions() as session:
        return list((await session.exec(select(table))).all())


async def test_export_sends_the_patients_own_data_as_a_json_document(world: World) -> None:
    await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("there's yellow crust and pus on my cheek", expect="today")
    other = await enrolled(world, user_id=1002)
    await other.says("my forehead is itchy", expect=None)

    data = await exported(world, pat)

    [document] = [e for e in world.sandbox.bot_messages(pat.user_id) if e.content == "document"]
    assert document.file_name == "aftercare-export.json"
    assert data["profile"]["timezone"] == "Europe/London"
    assert data["profile"]["clinic"] == "Glow Clinic"
    assert data["profile"]["telegram_chat_id"] == pat.user_id
    [treatment] = data["treatments"]
    assert treatment["treated_at"].startswith("2026-03-26T14:00")
    assert data["reminders"]
    assert {"step", "due_at", "status"} <= set(data["reminders"][0])
    [report] = data["reports"]
    assert report["text"] == "there's yellow crust and pus on my cheek"
    assert report["level"] == "urgent"
    assert "forehead" not in json.dumps(data)


async def test_forget_after_confirmation_deletes_the_data_and_start_begins_anew(
    world: World,
) -> None:
    await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("there's yellow crust and pus on my cheek", expect="today")
    await world.settle()  # the staff alert goes out
    other = await enrolled(world, user_id=1002)

    ask = await pat.says("/forget", expect="Delete all your data?")
    assert [label for row in ask.buttons for label, _ in row] == [
        "Yes, delete my data",
        "No, keep it",
    ]
    await pat.presses("Yes, delete my data", expect="Your data has been deleted")

    patients = await rows(world, Patient)
    assert [p.chat_id for p in patients] == [other.user_id]
    assert {t.patient_id for t in await rows(world, Treatment)} == {patients[0].id}
    assert {r.patient_id for r in await rows(world, Reminder)} == {patients[0].id}
    assert await rows(world, SymptomReport) == []

    await pat.says("/start", expect="Which language")  # a stranger again
    assert [p.chat_id for p in await rows(world, Patient)] == [other.user_id, pat.user_id]


async def test_forget_cancelled_keeps_everything(world: World) -> None:
    pat = await enrolled(world)
    before = len(await rows(world, Reminder))
    await pat.says("/forget", expect="Delete all your data?")
    await pat.presses("No, keep it", expect="Nothing was deleted")
    assert [p.chat_id for p in await rows(world, Patient)] == [pat.user_id]
    assert len(await rows(world, Reminder)) == before
    await pat.says("/plan", expect="Coming up")


async def test_a_stranger_is_told_there_is_nothing_to_export_or_forget(world: World) -> None:
    stranger = world.person(4242)
    await stranger.says("/export", expect="I don't keep any data about you")
    await stranger.says("/forget", expect="I don't keep any data about you")
    assert await rows(world, Patient) == []
