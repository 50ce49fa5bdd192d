"""The clinic console through real HTTP: a staff member signs in with the link the bot
sends, sees the clinic's escalations and acknowledges one; links are single use and
expire; forms need the CSRF token; another clinic's staff never see or touch a report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.handlers.staff import seen_note
from messages.render import UNNAMED_CLINIC
from schedules.broadcasts import create_draft
from schedules.models import Clinic, EscalationState, Patient, Staff
from schedules.segments import Everyone
from tests.e2e.clinic_world import CODE, enrolled, reports, small_png, staff_joins
from tests.e2e.console_client import (
    CSRF,
    START,
    another_clinics_owner_link,
    console_world,
    link_from_the_bot,
    sign_in,
)
from tests.e2e.harness import World


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path) as started:
        yield started


@pytest.fixture
async def browser(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on the daemon's HTTP server (no redirects followed)."""
    async with httpx.AsyncClient(base_url=world.daemon.http_url or "") as client:
        yield client


async def an_emergency(world: World) -> int:
    pat = await enrolled(world)
    await pat.says("my lips are swelling up and i can't breathe properly", expect="999")
    [report] = await reports(world)
    assert report.id is not None
    return report.id


PATIENT = 1001  # enrolled()'s default
NURSE_ES = 9002


async def test_staff_sign_in_with_the_bots_link_and_acknowledge_an_escalation(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    report_id = await an_emergency(world)
    signed = await sign_in(browser, await link_from_the_bot(nurse))
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie

    page = await browser.get("/console")
    assert page.status_code == 200
    assert "Glow Clinic" in page.text
    assert page.headers["x-frame-options"] == "DENY"  # its buttons cannot be framed
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "private, no-store"
    assert "EMERGENCY" in page.text
    assert "can&#39;t breathe" in page.text  # the patient's words, escaped
    csrf = CSRF.search(page.text)
    assert csrf is not None
    done = await browser.post(f"/console/escalations/{report_id}/ack", data={"csrf": csrf.group(1)})
    assert done.status_code == 303
    [report] = await reports(world)
    assert report.state == EscalationState.ACKNOWLEDGED
    assert "Acknowledge</button>" not in (await browser.get("/console")).text
    seen = seen_note(await patient_of(world, report.patient_id), await clinic_of(world))
    assert world.person(PATIENT).bot_texts()[-1] == seen, "the patient hears someone has it"


async def patient_of(world: World, patient_id: int) -> Patient:
    async with world.daemon.sessions() as session:
        found = await session.get(Patient, patient_id)
    assert found is not None
    return found


async def clinic_of(world: World) -> Clinic | None:
    async with world.daemon.sessions() as session:
        return (await session.exec(select(Clinic))).first()


async def test_a_reply_from_the_console_reaches_the_patient(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    report_id = await an_emergency(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    csrf = CSRF.search((await browser.get("/console")).text)
    assert csrf is not None
    words = "Please come in now <we are ready> & call 999 if worse"
    sent = await browser.post(
        f"/console/escalations/{report_id}/reply", data={"csrf": csrf.group(1), "text": words}
    )
    assert sent.status_code == 303
    page = await browser.get(sent.headers["location"])
    [report] = await reports(world)
    assert f"Sent to patient #{report.patient_id}." in page.text
    assert report.state == EscalationState.ACKNOWLEDGED
    assert world.person(PATIENT).bot_texts()[-1] == "Message from Glow Clinic:\n\n" + words


async def test_a_link_signs_in_once(world: World, browser: httpx.AsyncClient) -> None:
    nurse = await staff_joins(world)
    link = await link_from_the_bot(nurse)
    assert (await sign_in(browser, link)).status_code == 303
    async with httpx.AsyncClient(base_url=str(browser.base_url)) as other_device:
        again = await sign_in(other_device, link)
        assert again.status_code == 403
        assert "already used or has expired" in again.text
        assert (await other_device.get("/console")).status_code == 401


async def test_a_link_expires_after_ten_minutes(world: World, browser: httpx.AsyncClient) -> None:
    nurse = await staff_joins(world)
    link = await link_from_the_bot(nurse)
    world.clock.advance(timedelta(minutes=10, seconds=1))
    assert (await sign_in(browser, link)).status_code == 403
    assert (await browser.get("/console")).status_code == 401


async def test_opening_the_link_alone_does_not_use_it(
    world: World, browser: httpx.AsyncClient
) -> None:
    """Link previews and mail scanners fetch the page: only the button signs in."""
    nurse = await staff_joins(world)
    link = await link_from_the_bot(nurse)
    for _ in range(3):
        assert (await browser.get(link)).status_code == 200
    assert (await sign_in(browser, link)).status_code == 303


async def test_a_form_without_its_csrf_token_is_refused(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    report_id = await an_emergency(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    for sent in ({}, {"csrf": "guess"}):
        refused = await browser.post(f"/console/escalations/{report_id}/ack", data=sent)
        assert refused.status_code == 403
    [report] = await reports(world)
    assert report.state == EscalationState.OPEN


async def test_without_a_session_every_page_asks_to_sign_in(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/console")).status_code == 401
    assert (await browser.post("/console/escalations/1/ack", data={})).status_code == 401
    browser.cookies.set("aftercare_console", "forged.value.here", path="/console")
    assert (await browser.get("/console")).status_code == 401


async def test_patients_by_stage_with_flags_and_one_patients_timeline(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    await an_emergency(world)
    [report] = await reports(world)
    async with world.daemon.sessions() as session:
        patient = await session.get(Patient, report.patient_id)
        assert patient is not None
        patient.contraindications = ["isotretinoin"]
        session.add(patient)
        await session.commit()
    await sign_in(browser, await link_from_the_bot(nurse))
    listing = (await browser.get("/console/patients")).text
    assert "First week after treatment (1)" in listing
    assert f'href="/console/patients/{report.patient_id}"' in listing
    assert "· day 1" in listing
    assert "contraindication" in listing
    timeline = await browser.get(f"/console/patients/{report.patient_id}")
    assert timeline.status_code == 200
    assert "Reminder" in timeline.text
    assert "sent" in timeline.text  # reminders already out
    assert "pending" in timeline.text  # and those to come
    assert "can&#39;t breathe" in timeline.text  # the report, with the patient's words


async def test_a_broadcast_is_previewed_with_its_count_sent_once_and_listed(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    await enrolled(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    csrf = CSRF.search((await browser.get("/console/broadcasts")).text)
    assert csrf is not None
    token = csrf.group(1)
    refused = await browser.post(
        "/console/broadcasts/preview", data={"csrf": token, "text": "Hi", "segment": "nobody"}
    )
    assert refused.status_code == 400
    assert "unknown segment" in refused.text
    words = "The clinic is closed on Monday <3"
    preview = await browser.post(
        "/console/broadcasts/preview", data={"csrf": token, "text": words, "segment": "all"}
    )
    assert preview.status_code == 200
    assert "The clinic is closed on Monday &lt;3" in preview.text
    assert 'id="recipients">1<' in preview.text
    send = re.search(r'action="(/console/broadcasts/\d+/send)"', preview.text)
    assert send is not None
    for _ in range(2):  # a double submit sends once
        assert (await browser.post(send.group(1), data={"csrf": token})).status_code == 303
    await world.settle()
    assert world.person(PATIENT).bot_texts().count(words) == 1
    listing = (await browser.get("/console/broadcasts")).text
    assert "done" in listing
    assert "1 / 1" in listing


async def test_the_compose_form_offers_the_protocols_segments_and_counts_them(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    await enrolled(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    form = (await browser.get("/console/broadcasts")).text
    assert '<option value="recent:7">' in form
    assert '<option value="course:collagen:2">' in form  # a course's sessions, from the protocol
    everyone = await browser.get("/console/broadcasts/recipients", params={"segment": "all"})
    assert everyone.json() == {"count": 1, "who": "all active patients"}
    nobody = await browser.get("/console/broadcasts/recipients", params={"segment": "course:none"})
    assert nobody.json()["count"] == 0
    wrong = await browser.get("/console/broadcasts/recipients", params={"segment": "vip"})
    assert wrong.status_code == 400
    assert "unknown segment" in wrong.json()["error"]


async def test_a_patients_photo_shows_in_its_escalation_card_and_is_never_cached(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled(world)
    picture = small_png()
    before = len(pat.bot_texts())
    world.sandbox.user_sends_photo(pat.user_id, caption="a bit of peeling", image=picture)
    await world.sandbox.wait_for(lambda: len(pat.bot_texts()) > before, what="the photo's answer")
    [report] = await reports(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    card = (await browser.get("/console")).text
    assert f'src="/console/escalations/{report.id}/photo"' in card
    photo = await browser.get(f"/console/escalations/{report.id}/photo")
    assert photo.status_code == 200
    assert photo.content == picture
    assert photo.headers["content-type"] == "image/png"
    assert "no-store" in photo.headers["cache-control"]
    browser.cookies.clear()
    assert (await browser.get(f"/console/escalations/{report.id}/photo")).status_code == 401


async def test_another_clinics_staff_get_404_and_never_see_the_report(
    world: World, browser: httpx.AsyncClient
) -> None:
    report_id = await an_emergency(world)
    assert (await sign_in(browser, await another_clinics_owner_link(world))).status_code == 303
    page = await browser.get("/console")
    assert "Elsewhere Skin" in page.text
    assert "EMERGENCY" not in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    listing = (await browser.get("/console/patients")).text
    assert "No patients yet." in listing
    [report] = await reports(world)
    assert (await browser.get(f"/console/patients/{report.patient_id}")).status_code == 404
    async with world.daemon.sessions() as session:
        theirs = await create_draft(
            session,
            clinic_id=report.clinic_id or 0,
            now=START,
            text="Only for Glow patients",
            segment=Everyone(),
        )
    for action in ("send", "cancel"):
        answer = await browser.post(
            f"/console/broadcasts/{theirs.id}/{action}", data={"csrf": csrf.group(1)}
        )
        assert answer.status_code == 404
    assert "Only for Glow patients" not in (await browser.get("/console/broadcasts")).text
    assert (await browser.get(f"/console/escalations/{report_id}/photo")).status_code == 404
    for action in ("ack", "close", "reply"):
        refused = await browser.post(
            f"/console/escalations/{report_id}/{action}", data={"csrf": csrf.group(1), "text": "hi"}
        )
        assert refused.status_code == 404
    [report] = await reports(world)
    assert report.state == EscalationState.OPEN
    assert not any(text.endswith("\n\nhi") for text in world.person(PATIENT).bot_texts())


async def test_the_console_speaks_the_staff_members_language_and_can_switch(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = world.person(NURSE_ES, language_code="es-ES")
    await nurse.says(f"/staff {CODE}", expect="Glow Clinic")
    await an_emergency(world)
    link = await link_from_the_bot(nurse)
    assert link.endswith("?lang=es")
    await sign_in(browser, link)
    page = (await browser.get("/console")).text
    assert '<html lang="es">' in page
    assert "Responder al paciente" in page
    assert "EMERGENCIA" in page  # the headline, from the bot's own catalog
    assert "Dificultad para respirar o tragar (posible anafilaxia)" in page  # the rules' words
    assert "Reply to the patient" not in page
    assert "Breathing or swallowing difficulty" not in page
    csrf = CSRF.search(page)
    assert csrf is not None
    switched = await browser.post(
        "/console/language",
        data={"csrf": csrf.group(1), "lang": "de"},
        headers={"referer": f"{browser.base_url}/console/patients"},
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/patients"
    assert "Patienten nach Behandlungsphase" in (await browser.get("/console/patients")).text
    assert "Atem- oder Schluckbeschwerden" in (await browser.get("/console")).text


async def test_a_clinic_without_a_name_is_your_clinic_in_the_readers_language(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = world.person(NURSE_ES, language_code="es")
    await nurse.says(f"/staff {CODE}", expect="Glow Clinic")
    async with world.daemon.sessions() as session:
        clinic = (await session.exec(select(Clinic))).one()
        clinic.name = UNNAMED_CLINIC  # as if AFTERCARE_CLINIC_NAME had never been set
        session.add(clinic)
        await session.commit()
    await sign_in(browser, await link_from_the_bot(nurse))
    page = (await browser.get("/console")).text
    assert "<h1>tu clínica</h1>" in page
    assert "your clinic" not in page


async def test_a_patient_cannot_get_a_console_link(world: World) -> None:
    pat = await enrolled(world)
    await pat.says("/console", expect="for clinic staff")


async def test_a_removed_member_is_signed_out_at_once(
    world: World, browser: httpx.AsyncClient
) -> None:
    nurse = await staff_joins(world)
    await sign_in(browser, await link_from_the_bot(nurse))
    assert (await browser.get("/console")).status_code == 200
    async with world.daemon.sessions() as session:
        member = (await session.exec(select(Staff).where(Staff.user_id == nurse.user_id))).one()
        member.active = False
        session.add(member)
        await session.commit()
    assert (await browser.get("/console")).status_code == 401
