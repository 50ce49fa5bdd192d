"""Real headless Chromium (Debian's package, installed by ``make test``) driven by
Playwright, against the daemon's own HTTP server. Screenshots are kept as artifacts in
``test-artifacts/`` (or ``AFTERCARE_TEST_ARTIFACTS``).

Without Chromium these tests skip locally; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.dbs import in_ci

CHROMIUM = Path(os.environ.get("AFTERCARE_CHROMIUM", "/usr/bin/chromium"))
# This machine's network is closed: no background fetches, no QUIC, no first-run work.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("AFTERCARE_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; `make test` installs Debian's chromium"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


class Shots:
    """Saves numbered screenshots of a page under ``test-artifacts/<test name>/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    async def take(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    return Shots(ARTIFACTS / name)
