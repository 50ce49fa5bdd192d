"""Protocols in the console through real HTTP: an owner uploads a file, sees its problems
beside the step, or the diff; publishes; rolls back. Only owners publish; a page left open
never publishes over a version published since; another clinic never sees this one's."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from schedules.models import Clinic, Protocol, ReminderStatus, Staff, StaffRole
from tests.e2e.clinic_world import enrolled, staff_joins
from tests.e2e.console_client import (
    START,
    another_clinics_owner_link,
    console_world,
    csrf_of,
    link_from_the_bot,
    sign_in,
)
from tests.e2e.harness import World

DATA = Path(__file__).parents[1] / "data" / "protocols"
V2 = (DATA / "updates" / "glow_v2.yaml").read_text()
NEW_STEP = "red-flag-check-day-3"
OWNER = 7


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path) as started:
        yield started


@pytest.fixture
async def owner(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The clinic's owner, signed in to the console."""
    async with world.daemon.sessions() as session:
        clinic = (await session.exec(select(Clinic))).one()
        assert clinic.id is not None
        member = Staff(clinic_id=clinic.id, user_id=OWNER, role=StaffRole.OWNER, created_at=START)
        session.add(member)
        await session.commit()
    async with httpx.AsyncClient(base_url=world.daemon.http_url or "") as client:
        await sign_in(client, await link_from_the_bot(world.person(OWNER)))
        yield client


async def check(client: httpx.AsyncClient, name: str, text: str) -> httpx.Response:
    csrf = await csrf_of(client, "/console/protocols")
    files = {"file": (name, text.encode(), "application/x-yaml")}
    return await client.post("/console/protocols/check", data={"csrf": csrf}, files=files)


def publish_form(page: str) -> dict[str, str]:
    """The hidden fields of the Publish form, as the browser would send them."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    found = re.search(r'<textarea name="yaml" hidden>(.*?)</textarea>', page, re.S)
    if found is not None:
        fields["yaml"] = _unescape(found.group(1))
    return fields


def _unescape(html: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&#34;", '"'), ("&#39;", "'")):
        html = html.replace(entity, char)
    return html.replace("&amp;", "&")


async def versions(world: World) -> list[tuple[str, int]]:
    async with world.daemon.sessions() as session:
        rows = await session.exec(select(Protocol).order_by(col(Protocol.id)))
        return [(row.slug, row.version) for row in rows.all()]


async def test_the_steps_read_as_the_patients_receive_them(
    world: World, owner: httpx.AsyncClient
) -> None:
    patient = await enrolled(world)
    [warning] = [text for text in patient.bot_texts() if "please tell" in text]
    overview = html.unescape((await owner.get("/console/protocols")).text)
    assert 'id="step-contraindications"' in overview
    assert warning in overview  # the placeholders filled as in the reminder
    assert "{clinic_name}" not in overview


async def test_an_owner_sees_problems_beside_their_step_and_nothing_is_published(
    world: World, owner: httpx.AsyncClient
) -> None:
    broken = V2.replace('at: "10:30"', 'at: "25:30"').replace("after: 48h", "after: soon")
    page = await check(owner, "glow_v3.yaml", broken)
    assert page.status_code == 400
    rows = dict(re.findall(r'data-step="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert "field &#34;at&#34;" in rows[NEW_STEP] or 'field "at"' in rows[NEW_STEP]
    assert "25:30" in rows[NEW_STEP]
    assert "after" in rows["makeup-allowed"]
    assert "✓" in rows["expected-effects"]  # a good step is marked good, with no problem beside it
    assert await versions(world) == [("microneedling", 1)]


async def test_an_owner_sees_the_diff_publishes_and_the_patients_move(
    world: World, owner: httpx.AsyncClient
) -> None:
    patient = await enrolled(world)
    page = await check(owner, "glow_v2.yaml", V2)
    assert page.status_code == 200
    assert f"+ step {NEW_STEP} (day 3 10:30)" in page.text
    assert "~ step makeup-allowed: after 24h → 48h" in page.text
    assert "Publish version 1" in page.text
    reworded = re.compile(  # the old words struck, then the new
        r'id="reworded-makeup-allowed">\s*<div class="meta">makeup-allowed</div>\s*'
        r"<del[^>]*>[^<]*24 hours[^<]*</del>\s*<ins[^>]*>[^<]*48 hours"
    )
    assert reworded.search(page.text)
    form = publish_form(page.text) | {"note": "Makeup now waits 48 hours."}
    done = await owner.post("/console/protocols/publish", data=form)
    assert "Published version 1" in done.text
    again = await owner.post("/console/protocols/publish", data=form)  # a double submit
    assert "Another version was published since you checked" in again.text
    assert "Nothing to publish" in again.text
    assert await versions(world) == [("microneedling", 1), ("clinic/microneedling", 1)]
    pending = {r.step_id for r in await world.reminders(1001, ReminderStatus.PENDING)}
    assert NEW_STEP in pending
    await world.settle()
    assert patient.bot_texts().count("Makeup now waits 48 hours.") == 1
    overview = (await owner.get("/console/protocols")).text
    assert "clinic/microneedling version 1" in overview
    assert f'id="step-{NEW_STEP}"' in overview


async def test_a_page_left_open_does_not_publish_over_a_newer_version(
    world: World, owner: httpx.AsyncClient
) -> None:
    stale = publish_form((await check(owner, "glow_v2.yaml", V2)).text)
    newer = V2.replace("after: 48h", "after: 36h")
    await owner.post(
        "/console/protocols/publish", data=publish_form((await check(owner, "x.yaml", newer)).text)
    )
    again = await owner.post("/console/protocols/publish", data=stale)
    assert "Another version was published since you checked" in again.text
    assert "~ step makeup-allowed: after 36h → 48h" in again.text
    assert await versions(world) == [("microneedling", 1), ("clinic/microneedling", 1)]


async def test_an_owner_rolls_back_to_an_earlier_version(
    world: World, owner: httpx.AsyncClient
) -> None:
    for text in (V2, V2.replace("after: 48h", "after: 36h")):
        await owner.post(
            "/console/protocols/publish",
            data=publish_form((await check(owner, "glow.yaml", text)).text),
        )
    csrf = await csrf_of(owner, "/console/protocols")
    offer = await owner.post("/console/protocols/rollback/1", data={"csrf": csrf})
    assert "Going back to version 1 changes this" in offer.text
    assert "after 36h → 48h" in offer.text
    done = await owner.post("/console/protocols/publish", data=publish_form(offer.text))
    assert "Published version 3" in done.text
    async with world.daemon.sessions() as session:
        latest = (await session.exec(select(Protocol).order_by(col(Protocol.id).desc()))).first()
    assert latest is not None
    assert latest.change_note == "Rollback to version 1"
    assert "Roll back to 2" in (await owner.get("/console/protocols")).text


async def test_staff_who_are_not_owners_may_look_but_not_publish(
    world: World, owner: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)  # the clinic has its owner: a colleague joins as staff
    async with httpx.AsyncClient(base_url=world.daemon.http_url or "") as client:
        await sign_in(client, await link_from_the_bot(nurse))
        overview = await client.get("/console/protocols")
        assert overview.status_code == 200
        assert "microneedling version 1" in overview.text
        assert 'action="/console/protocols/check"' not in overview.text
        assert (await check(client, "glow_v2.yaml", V2)).status_code == 403
        csrf = await csrf_of(client, "/console/protocols")
        forced = await client.post(
            "/console/protocols/publish", data={"csrf": csrf, "yaml": V2, "base": "1"}
        )
        assert forced.status_code == 403
    assert await versions(world) == [("microneedling", 1)]


async def test_another_clinics_owner_cannot_roll_this_clinic_back(
    world: World, owner: httpx.AsyncClient
) -> None:
    await owner.post(
        "/console/protocols/publish", data=publish_form((await check(owner, "g.yaml", V2)).text)
    )
    async with httpx.AsyncClient(base_url=world.daemon.http_url or "") as client:
        await sign_in(client, await another_clinics_owner_link(world))
        overview = (await client.get("/console/protocols")).text
        assert "clinic/microneedling" not in overview
        csrf = await csrf_of(client, "/console/protocols")
        refused = await client.post("/console/protocols/rollback/1", data={"csrf": csrf})
        assert refused.status_code == 404
    assert ("elsewhere/microneedling", 1) not in await versions(world)
