"""Signing in to the console as a staff member does: the bot's link, then its button."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from schedules.console_links import create_link
from schedules.models import Clinic, Staff, StaffRole
from tests.e2e.clinic_world import CLINIC
from tests.e2e.harness import Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
LINK = re.compile(r"http://\S+/console/login/(\S+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def console_world(tmp_path: Path) -> AsyncIterator[World]:
    """Glow Clinic's daemon at START, its HTTP server (and so the console) on a free port."""
    world = await start_world(tmp_path, START, http_port=0, **CLINIC)
    try:
        yield world
    finally:
        await stop_world(world)


async def link_from_the_bot(nurse: Person) -> str:
    await nurse.says("/console", expect="sign-in link")
    found = LINK.search(nurse.bot_texts()[-1])
    assert found is not None, nurse.bot_texts()[-1]
    return found.group(0)


async def sign_in(browser: httpx.AsyncClient, link: str) -> httpx.Response:
    """Open the link (a page with a button), then press the button."""
    page = await browser.get(link)
    assert page.status_code == 200
    assert 'action="/console/login"' in page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    assert fields["secret"] == urlsplit(link).path.rsplit("/", 1)[1]
    return await browser.post("/console/login", data=fields)


async def csrf_of(browser: httpx.AsyncClient, page: str) -> str:
    found = CSRF.search((await browser.get(page)).text)
    assert found is not None, f"no form on {page}"
    return found.group(1)


async def another_clinics_owner_link(world: World) -> str:
    """A sign-in link for the owner of a second clinic, "Elsewhere Skin"."""
    now = world.clock.now()
    async with world.daemon.sessions() as session:
        other = Clinic(slug="elsewhere", name="Elsewhere Skin", created_at=now)
        session.add(other)
        await session.flush()
        assert other.id is not None
        stranger = Staff(clinic_id=other.id, user_id=7777, role=StaffRole.OWNER, created_at=now)
        session.add(stranger)
        await session.flush()
        assert stranger.id is not None
        secret = await create_link(session, stranger.id, now)
    return f"{world.daemon.http_url}/console/login/{secret}"
