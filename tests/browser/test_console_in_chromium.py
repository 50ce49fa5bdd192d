"""The clinic console in a real browser: a nurse opens the link the bot sent, signs in,
acknowledges an emergency and replies to the patient; on a laptop and on a phone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from schedules.models import EscalationState
from tests.browser.conftest import Shots
from tests.e2e.clinic_world import enrolled, reports, small_png, staff_joins
from tests.e2e.console_client import console_world
from tests.e2e.harness import Person, World

LINK = re.compile(r"http://\S+/console/login/\S+")
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
PROTOCOL_V2 = (Path(__file__).parents[1] / "data/protocols/updates/glow_v2.yaml").read_text()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path) as started:
        yield started


async def signed_in(browser: Browser, member: Person, screen: dict[str, int]) -> Page:
    """A page signed in to the console through the link the bot sent ``member``."""
    await member.says("/console", expect="sign-in link")
    link = LINK.search(member.bot_texts()[-1])
    assert link is not None
    page = await browser.new_page(viewport=screen)
    await page.goto(link.group(0))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console")
    return page


@pytest.mark.parametrize("screen", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_a_nurse_signs_in_acknowledges_and_replies(
    world: World, browser: Browser, shots: Shots, screen: dict[str, int]
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    await pat.says("my lips are swelling up and i can't breathe properly", expect="999")
    await nurse.says("/console", expect="sign-in link")
    link = LINK.search(nurse.bot_texts()[-1])
    assert link is not None

    page = await browser.new_page(viewport=screen)
    await page.goto(link.group(0))
    await shots.take(page, "sign-in")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console")
    card = page.locator("section.report").first
    assert "EMERGENCY" in await card.inner_text()
    assert "can't breathe" in await card.inner_text()
    await shots.take(page, "escalations")

    await card.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("button", name="Acknowledge").count() == 0
    [report] = await reports(world)
    assert report.state == EscalationState.ACKNOWLEDGED

    await page.get_by_label("Reply to the patient").fill("We are calling you now.")
    await page.get_by_role("button", name="Send to patient").click()
    await page.get_by_role("status").wait_for()
    assert "Sent to patient" in await page.get_by_role("status").inner_text()
    await shots.take(page, "replied")
    assert pat.bot_texts()[-1].endswith("We are calling you now.")
    assert all(path.stat().st_size > 0 for path in shots.taken)


async def test_a_nurse_sees_a_photo_then_previews_and_sends_a_broadcast(
    world: World, browser: Browser, shots: Shots
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    world.sandbox.user_sends_photo(pat.user_id, caption="is this peeling ok?", image=small_png())
    await world.sandbox.wait_for(lambda: len(world.sandbox.bot_messages(nurse.user_id)) > 1)
    page = await signed_in(browser, nurse, LAPTOP)
    photo = page.locator("section.report img.photo")
    await photo.wait_for()
    assert await photo.evaluate("image => image.complete && image.naturalWidth") == 64
    await shots.take(page, "photo-in-card")
    await page.get_by_role("link", name="Broadcasts").click()
    await page.get_by_label("Message").fill("We are closed on Monday; reminders carry on.")
    live = page.locator("#live-preview")
    assert await live.inner_text() == "We are closed on Monday; reminders carry on."
    count = page.locator("#live-count")
    await count.get_by_text("Reaches 1 patients now: all active patients.").wait_for()
    await page.get_by_label("Who").select_option(label="Treated in the last 7 days")
    await count.get_by_text("treated in the last 7 days").wait_for()
    await shots.take(page, "compose")
    await page.get_by_label("Who").select_option(label="All active patients")
    await page.get_by_role("button", name="Preview").click()
    assert await page.locator("#recipients").inner_text() == "1"
    await shots.take(page, "preview")
    await page.get_by_role("button", name="Send to 1 patients").click()
    await page.wait_for_url("**/console/broadcasts")
    await world.settle()
    await page.locator("#recent").get_by_text("1 / 1").wait_for()  # no reload: it updates
    await shots.take(page, "sent")
    assert pat.bot_texts().count("We are closed on Monday; reminders carry on.") == 1


async def test_an_owner_fixes_a_protocol_sees_the_diff_and_publishes(
    world: World, browser: Browser, shots: Shots
) -> None:
    owner = await staff_joins(world)  # the first member of a clinic is its owner
    pat = await enrolled(world)
    page = await signed_in(browser, owner, LAPTOP)
    await page.get_by_role("link", name="Protocol").click()
    assert "microneedling version 1" in await page.locator("h2").first.inner_text()

    broken = PROTOCOL_V2.replace('at: "10:30"', 'at: "25:30"')
    await page.get_by_label("Protocol file (.yaml)").set_input_files(
        files=[
            {"name": "glow_v2.yaml", "mimeType": "application/x-yaml", "buffer": broken.encode()}
        ]
    )
    await page.get_by_role("button", name="Check").click()
    bad = page.locator('tr[data-step="red-flag-check-day-3"]')
    assert "25:30" in await bad.inner_text()
    await shots.take(page, "problem-beside-its-step")

    await page.get_by_role("link", name="Back to the protocol").click()
    await page.get_by_label("Protocol file (.yaml)").set_input_files(
        files=[
            {
                "name": "glow_v2.yaml",
                "mimeType": "application/x-yaml",
                "buffer": PROTOCOL_V2.encode(),
            }
        ]
    )
    await page.get_by_role("button", name="Check").click()
    assert "after 24h → 48h" in await page.locator("ul.diff").inner_text()
    await page.get_by_label("Note to the patients whose plan changes").fill(
        "Makeup now waits 48 hours."
    )
    await shots.take(page, "diff")
    await page.get_by_role("button", name="Publish version 1").click()
    assert "1 patients will get your note" in await page.get_by_role("status").inner_text()
    await shots.take(page, "published")
    await world.settle()
    assert pat.bot_texts().count("Makeup now waits 48 hours.") == 1
