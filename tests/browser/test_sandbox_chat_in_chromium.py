"""The sandbox's chat page in a real browser: a person plays a patient's enrolment, typing
and pressing buttons drawn like Telegram's, and reads the bot's answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import Shots
from tests.e2e.harness import World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START)
    try:
        yield started
    finally:
        await stop_world(started)


async def press(page: Page, label: str) -> None:
    """Press the newest button with this label (older keyboards may still show it)."""
    await page.get_by_role("button", name=label, exact=True).last.click()


async def bot_says(page: Page, words: str) -> None:
    await page.locator(".bubble.bot", has_text=words).last.wait_for(timeout=15_000)


async def test_a_person_plays_a_patients_enrolment_on_the_chat_page(
    world: World, browser: Browser, shots: Shots
) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(world.sandbox.url + "/chat")
    await page.get_by_role("link", name="Start a new chat as user 1001").click()
    await page.get_by_placeholder("Write a message").fill("/start")
    await page.get_by_role("button", name="Send").click()
    await bot_says(page, "Which language")
    await shots.take(page, "welcome")
    await press(page, "English")
    await bot_says(page, "I am not a doctor")
    await press(page, "I understand")
    await bot_says(page, "Where are you?")
    await press(page, "Germany")
    await bot_says(page, "Which of these is closest")
    await press(page, "Berlin")
    await bot_says(page, "Is that right?")
    await press(page, "Yes, that's right")
    await bot_says(page, "When was your treatment?")
    await press(page, "Yesterday")
    await bot_says(page, "About what time?")
    await press(page, "14:00")
    await bot_says(page, "All set!")
    await shots.take(page, "enrolled")
    texts = world.sandbox.bot_messages(1001)
    assert any("All set!" in (m.text or "") for m in texts)
    assert await page.locator(".bubble.press").count() >= 7  # each press shows, as in Telegram
