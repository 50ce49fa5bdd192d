"""Several clinics on one bot: invite links for staff, enrolment links and QR codes for
patients, teams managed by their owners, and alerts that reach only the patient's clinic."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.qr import PNG_SIGNATURE, qr_png
from messages.i18n import translator
from messages.render import UNNAMED_CLINIC, render_step
from schedules.clinics import create_clinic
from schedules.models import Clinic, Staff, StaffRole, SymptomReport, Treatment
from schedules.protocol import ProtocolSpec, bundled_protocol
from schedules.team import create_invite
from tests.e2e.harness import Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
BOT = "aftercare_sandbox_bot"
REFUSED = "This command is for clinic staff."
_INVITE = re.compile(rf"https://t\.me/{BOT}\?start=(i-[0-9a-f]+)")
GLOW_OWNER, GLOW_NURSE, BRIGHT_OWNER = 9001, 9002, 9101


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START)
    try:
        yield started
    finally:
        await stop_world(started)


async def new_clinic(world: World, name: str, emergency: str = "999") -> Clinic:
    async with world.daemon.sessions() as session:
        return await create_clinic(
            session,
            name=name,
            timezone="Europe/London",
            phone="+44 20 7946 0000",
            emergency_number=emergency,
            now=world.clock.now(),
        )


async def invite_code(world: World, clinic: Clinic, role: StaffRole = StaffRole.OWNER) -> str:
    """What the operator's `aftercare clinic create` hands the owner: an invite payload."""
    assert clinic.id is not None
    async with world.daemon.sessions() as session:
        invite = await create_invite(session, clinic.id, role, None, world.clock.now())
    return f"i-{invite.code}"


async def owner_of(world: World, clinic: Clinic, user_id: int) -> Person:
    owner = world.person(user_id)
    code = await invite_code(world, clinic)
    await owner.says(f"/start {code}", expect=f"You're now an owner at {clinic.name}")
    return owner


async def members(world: World, clinic: Clinic) -> dict[int, tuple[str, bool]]:
    """user id → (role, active) of everyone who ever joined the clinic."""
    async with world.daemon.sessions() as session:
        rows = await session.exec(select(Staff).where(col(Staff.clinic_id) == clinic.id))
        return {row.user_id: (row.role, row.active) for row in rows.all()}


def answers(world: World, user_id: int) -> list[str]:
    """The texts of the bot's answers to this user's button presses."""
    return [
        entry.text or ""
        for entry in world.sandbox.transcript(user_id)
        if entry.kind == "callback_answer"
    ]


async def pressed_and_answered(world: World, user_id: int, data: str, message_id: int) -> str:
    """Force a press of ``data`` (whether or not such a button was shown); its answer."""
    before = len(answers(world, user_id))
    world.sandbox.user_presses_button(
        user_id, callback_data=data, message_id=message_id, force=True
    )
    await world.sandbox.wait_for(lambda: len(answers(world, user_id)) > before, timeout=15)
    return answers(world, user_id)[-1]


async def test_an_owner_invite_works_once(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    code = await invite_code(world, glow)
    owner = world.person(GLOW_OWNER)
    reply = await owner.says(f"/start {code}", expect="Glow Clinic")
    assert (reply.text or "").startswith("You're now an owner at Glow Clinic")
    intruder = world.person(GLOW_NURSE)
    await intruder.says(f"/start {code}", expect="expired or was already used")
    assert await members(world, glow) == {GLOW_OWNER: (StaffRole.OWNER, True)}
    patient_rows = await world.sandbox.wait_for_bot_messages(GLOW_OWNER, 1)
    assert "Which language" not in (patient_rows[0].text or "")  # not a patient flow


async def test_an_expired_invite_is_refused(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    code = await invite_code(world, glow)
    world.clock.advance(timedelta(days=7, seconds=1))
    await world.person(GLOW_OWNER).says(f"/start {code}", expect="expired or was already used")
    assert await members(world, glow) == {}


async def test_an_owner_invites_a_colleague_and_removes_them_from_the_team(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    owner = await owner_of(world, glow, GLOW_OWNER)
    offer = await owner.says("/invite", expect="t.me")
    assert "Send this link to your new colleague at Glow Clinic" in (offer.text or "")
    assert "expires Fri 3 Apr, 10:00 (Europe/London)" in (offer.text or "")  # 7 days, BST
    found = _INVITE.search(offer.text or "")
    assert found is not None
    nurse = world.person(GLOW_NURSE)
    await nurse.says(f"/start {found.group(1)}", expect="You're now staff at Glow Clinic")
    await nurse.says("/invite", expect="Only the clinic's owners can invite")

    listing = await owner.says("/team", expect="The team at Glow Clinic")
    lines = (listing.text or "").splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("• owner #")
    assert lines[1].endswith("(you)")
    assert "joined Fri 27 Mar" in lines[1]
    assert lines[2].startswith("• staff #")
    labels = [label for row in listing.buttons for label, _ in row]
    assert len(labels) == 1  # the last owner has no Remove button
    world.sandbox.user_presses_button(GLOW_OWNER, label=labels[0])
    await world.sandbox.wait_for(
        lambda: any("no longer on the team" in t for t in nurse.bot_texts()), timeout=15
    )
    edited = world.sandbox.bot_messages(GLOW_OWNER)[-1]
    assert edited.message_id == listing.message_id
    assert "staff #" not in (edited.text or "")
    assert await members(world, glow) == {
        GLOW_OWNER: (StaffRole.OWNER, True),
        GLOW_NURSE: (StaffRole.STAFF, False),
    }
    await nurse.says("/team", expect=REFUSED)


async def test_the_last_owner_cannot_be_removed_even_by_a_forced_press(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    owner = await owner_of(world, glow, GLOW_OWNER)
    listing = await owner.says("/team", expect="The team at Glow Clinic")
    assert listing.buttons == ()
    me = next(iter(await members(world, glow)))
    assert me == GLOW_OWNER
    async with world.daemon.sessions() as session:
        staff_id = (await session.exec(select(Staff.id))).one()
    answer = await pressed_and_answered(
        world, GLOW_OWNER, f"team:rm:{glow.id}:{staff_id}", listing.message_id or 0
    )
    assert "never its last owner" in answer
    assert await members(world, glow) == {GLOW_OWNER: (StaffRole.OWNER, True)}


async def test_a_patient_enrols_through_a_clinics_link_and_only_its_staff_hear_of_them(
    world: World,
) -> None:
    glow = await new_clinic(world, "Glow Clinic", emergency="999")
    bright = await new_clinic(world, "Bright Skin", emergency="112")
    glow_owner = await owner_of(world, glow, GLOW_OWNER)
    bright_owner = await owner_of(world, bright, BRIGHT_OWNER)
    pat = world.person(1001)
    hello = await pat.says(f"/start c-{glow.patient_code}", expect="Which language")
    assert (hello.text or "").startswith("Hello! I'm the aftercare assistant of Glow Clinic.")
    await pat.enrols(start=f"/start c-{glow.patient_code}")
    await world.settle()
    assert (await world.patient(1001)).clinic_id == glow.id

    reply = await pat.says("yellow crust on my cheek and it's hot", expect="today")
    assert "alerted the team at Glow Clinic" in (reply.text or "")
    await world.settle()
    assert any(text.startswith("⚠️") for text in glow_owner.bot_texts())
    assert not any(text.startswith(("🚨", "⚠️", "📝")) for text in bright_owner.bot_texts())
    async with world.daemon.sessions() as session:
        report = (await session.exec(select(SymptomReport))).one()
    assert report.clinic_id == glow.id

    # Bright's owner cannot act on Glow's report or team, whatever they press.
    alert = next(e for e in world.sandbox.bot_messages(GLOW_OWNER) if e.buttons)
    mine = world.sandbox.bot_messages(BRIGHT_OWNER)[-1].message_id or 0
    refused = await pressed_and_answered(world, BRIGHT_OWNER, f"esc:ack:{report.id}", mine)
    assert refused == "Only the clinic's staff can do that."
    async with world.daemon.sessions() as session:
        glow_owner_id = (
            await session.exec(select(Staff.id).where(col(Staff.user_id) == GLOW_OWNER))
        ).one()
    refused = await pressed_and_answered(
        world, BRIGHT_OWNER, f"team:rm:{glow.id}:{glow_owner_id}", mine
    )
    assert "Only an owner of this clinic" in refused
    assert (await members(world, glow))[GLOW_OWNER] == (StaffRole.OWNER, True)
    async with world.daemon.sessions() as session:
        assert (await session.get(SymptomReport, report.id)).state == "open"  # type: ignore[union-attr]
    assert alert.buttons  # Glow's own alert still waits for Glow


async def test_reminders_name_the_patients_clinic_and_the_unnamed_one_neutrally(
    world: World,
) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    glowing, unassigned = world.person(1001), world.person(1002)
    await glowing.enrols(start=f"/start c-{glow.patient_code}")
    await unassigned.enrols()  # the operator's clinic, which has no name in this world
    await world.settle()
    spec = bundled_protocol()
    named = render_step(spec, "contraindications", "en", {"clinic_name": "Glow Clinic"}).text
    assert "please tell Glow Clinic" in named
    assert named in glowing.bot_texts()
    assert render_step(spec, "contraindications", "en").text in unassigned.bot_texts()
    assert not any("Glow Clinic" in text for text in unassigned.bot_texts())


async def test_a_clinic_without_a_name_is_your_clinic_in_the_patients_language(
    world: World,
) -> None:
    async with world.daemon.sessions() as session:
        unnamed = (await session.exec(select(Clinic))).one()  # the operator's, never named
    assert unnamed.name == UNNAMED_CLINIC
    t = translator("es")
    pat = world.person(1003, language_code="es")
    hello = await pat.says(
        f"/start c-{unnamed.patient_code}", expect=t("Which language would you like?")
    )
    generic = t(
        "Hello! I'm your clinic's aftercare assistant. I'll send you the right care tips at"
        " the right time after your treatment."
    )
    assert (hello.text or "").startswith(generic)
    assert "your clinic" not in (hello.text or "")


async def test_a_patient_with_a_treatment_stays_with_their_clinic(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    bright = await new_clinic(world, "Bright Skin")
    pat = world.person(1001)
    await pat.enrols(start=f"/start c-{glow.patient_code}")
    told = await pat.says(f"/start c-{bright.patient_code}", expect="Welcome back")
    texts = pat.bot_texts()
    assert any(
        "Your current treatment's aftercare is with Glow Clinic" in t and "Bright Skin" in t
        for t in texts
    )
    assert told.text
    assert (await world.patient(1001)).clinic_id == glow.id


async def test_a_patient_without_a_treatment_moves_to_the_clinic_whose_link_they_open(
    world: World,
) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    bright = await new_clinic(world, "Bright Skin")
    pat = world.person(1001)
    await pat.says(f"/start c-{glow.patient_code}", expect="assistant of Glow Clinic")
    await pat.says(f"/start c-{bright.patient_code}", expect="assistant of Bright Skin")
    assert (await world.patient(1001)).clinic_id == bright.id


async def test_an_unknown_clinic_code_still_onboards_without_alarm(world: World) -> None:
    pat = world.person(1001)
    hello = await pat.says("/start c-0000000000000000", expect="Which language")
    assert (hello.text or "").startswith("Hello! I'm your clinic's aftercare assistant.")
    assert (await world.patient(1001)).clinic_id is None


async def test_patients_cannot_use_the_staff_commands(world: World) -> None:
    await new_clinic(world, "Glow Clinic")
    pat = world.person(1001)
    await pat.enrols()
    for command in ("/invite", "/invite owner", "/team", "/link"):
        reply = await pat.says(command, expect="clinic staff")
        assert reply.text == REFUSED
    assert not any(e.content == "photo" for e in world.sandbox.bot_messages(1001))


async def test_link_gives_the_patient_link_and_its_qr_code_as_a_png(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    owner = await owner_of(world, glow, GLOW_OWNER)
    url = f"https://t.me/{BOT}?start=c-{glow.patient_code}"
    reply = await owner.says("/link", expect=url)
    assert "Patients of Glow Clinic start their aftercare with this link" in (reply.text or "")
    await world.sandbox.wait_for(
        lambda: world.sandbox.bot_messages(GLOW_OWNER)[-1].content == "photo", timeout=15
    )
    photo = world.sandbox.bot_messages(GLOW_OWNER)[-1]
    assert photo.caption == "Scan to start aftercare with Glow Clinic"
    assert photo.file_id is not None
    # Downloaded as the bot itself would: getFile, then the file URL PTB builds.
    assert world.daemon.application is not None
    bot = world.daemon.application.bot
    png = bytes(await (await bot.get_file(photo.file_id)).download_as_bytearray())
    assert png.startswith(PNG_SIGNATURE)
    assert png == qr_png(url)


async def test_new_treatments_follow_the_clinics_protocol(world: World) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    own = bundled_protocol().model_copy(update={"slug": "glow-microneedling"})
    published = await world.daemon.catalog.publish(own)
    async with world.daemon.sessions() as session:
        row = await session.get(Clinic, glow.id)
        assert row is not None
        row.protocol_slug = "glow-microneedling"
        session.add(row)
        await session.commit()
    bright = await new_clinic(world, "Bright Skin")
    async with world.daemon.sessions() as session:
        row = await session.get(Clinic, bright.id)
        assert row is not None
        row.protocol_slug = "not-in-the-catalog"
        session.add(row)
        await session.commit()
    await world.person(1001).enrols(start=f"/start c-{glow.patient_code}")
    await world.person(1002).enrols(start=f"/start c-{bright.patient_code}")
    default = await world.daemon.catalog.latest("microneedling")
    assert default is not None
    async with world.daemon.sessions() as session:
        treatments = (await session.exec(select(Treatment).order_by(col(Treatment.id)))).all()
    assert [t.protocol_id for t in treatments] == [published.id, default.id]


async def test_the_plan_and_its_preview_name_the_clinic_as_the_reminders_do(
    world: World,
) -> None:
    glow = await new_clinic(world, "Glow Clinic")
    body = bundled_protocol().model_dump(mode="json")
    body["slug"] = "glow-named"
    for step in body["steps"]:  # the name early, where the plan's one-line previews show it
        step["text"]["en"] = "{clinic_name}: " + step["text"]["en"]
    await world.daemon.catalog.publish(ProtocolSpec.model_validate(body))
    async with world.daemon.sessions() as session:
        row = await session.get(Clinic, glow.id)
        assert row is not None
        row.protocol_slug = "glow-named"
        session.add(row)
        await session.commit()
    pat = world.person(1001)
    await pat.says(f"/start c-{glow.patient_code}", expect="Which language")
    await pat.presses("English", expect="not a doctor")
    await pat.presses("I understand", expect="Where are you")
    await pat.says("Europe/London", expect="Is that right")
    await pat.presses("Yes, that's right", expect="When was your treatment")
    await pat.presses("Yesterday", expect="what time")
    preview = await pat.presses("14:00", expect="Next:")
    assert "— Glow Clinic: " in (preview.text or "")
    plan = await pat.says("/plan", expect="Coming up")
    lines = [line for line in (plan.text or "").splitlines() if line.startswith("•")]
    assert lines
    assert all("— Glow Clinic: " in line for line in lines)
