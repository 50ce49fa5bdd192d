"""Logs never carry what a patient wrote, their name, their chat id or the bot token."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.logs import json_formatter, setup_logging
from tests.e2e.clinic_world import CLINIC, alerts, staff_joins
from tests.e2e.harness import TOKEN, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
CHAT_ID = 731_904_265  # distinctive digits, unlike any port, id or timestamp nearby
WORD = "Zanzibarcheek"
NAME = "Quintessa"
LOGGERS = ("", "telegram", "httpx", "bot", "schedules", "aiohttp")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, **CLINIC)
    try:
        yield started
    finally:
        await stop_world(started)


def leaks(record: logging.LogRecord) -> list[str]:
    # The JSON line holds the message and every ``extra`` field a collector would see.
    text = record.getMessage() + " " + json_formatter().format(record)
    if record.exc_info and record.exc_info[1] is not None:
        text += " " + repr(record.exc_info[1])
    found = [secret for secret in (WORD, NAME, TOKEN) if secret.lower() in text.lower()]
    if re.search(rf"(?<!\d){CHAT_ID}(?!\d)", text):
        found.append("chat id")
    return found


async def test_a_whole_journey_logs_nothing_personal(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    nurse = await staff_joins(world)
    pat = world.person(CHAT_ID, first_name=NAME)
    await pat.enrols()
    await world.settle()
    await pat.says(f"there's yellow crust and pus on my {WORD}", expect="today")
    await world.settle()
    assert any(WORD in alert for alert in alerts(nurse))  # staff did see the words
    await pat.says("/export")
    await pat.says("/forget", expect="Delete all your data?")
    await pat.presses("Yes, delete my data", expect="Your data has been deleted")

    assert len(caplog.records) > 10  # the capture works: there is plenty of logging
    leaking = [record for record in caplog.records if leaks(record)]
    ours = [f"{r.name}: {r.getMessage()[:160]} {leaks(r)}" for r in leaking if is_ours(r.name)]
    assert ours == []
    # Libraries do log personal data at DEBUG (PTB: request parameters and updates; httpx:
    # URLs with the token; aiosqlite: query values). The CLI's logging setup keeps each of
    # those records out, whatever level the operator picks.
    with production_logging():
        shown = {
            (r.name, r.levelname)
            for r in leaking
            if logging.getLogger(r.name).isEnabledFor(r.levelno)
        }
    assert shown == set()


def is_ours(name: str) -> bool:
    return name == "root" or name.split(".")[0] in {"bot", "schedules", "messages", "aiohttp"}


@contextlib.contextmanager
def production_logging() -> Iterator[None]:
    """``setup_logging("DEBUG")`` of the CLI, undone afterwards."""
    names = ("httpx", "apscheduler", "telegram", "aiosqlite")
    saved = {name: logging.getLogger(name).level for name in names}
    try:
        setup_logging("DEBUG")
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
