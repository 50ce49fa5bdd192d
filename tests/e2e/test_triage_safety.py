"""The safety path of triage in the chat: the red-flag checklist in four languages, the
answer first whatever the database does, and the emergency answer ahead of what is
already queued for the patient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from messages.i18n import LANGUAGE_NAMES, translator
from messages.triage import Level, load_rules
from tests.dbs import PostgresServer, dsn
from tests.e2e.clinic_world import CLINIC, alerts, reports, staff_joins
from tests.e2e.harness import Person, World, start_world, stop_world

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
TEXTS = load_rules(reader=False).texts
# Said vaguely: neither the rules nor the model can tell what it is, so the checklist.
VAGUE = {
    "en": "my skin feels strange",
    "es": "siento la piel rara",
    "de": "mein Gesicht fühlt sich komisch an",
    "ru": "странное ощущение на лице",
}
YESTERDAY = {"es": "ayer a las 14:00", "de": "gestern um 14 Uhr", "ru": "вчера в 14:00"}
PLACES = {"es": "Madrid", "de": "Berlin", "ru": "Moscow"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, **CLINIC)
    try:
        yield started
    finally:
        await stop_world(started)


async def enrolled_in(world: World, locale: str, user_id: int = 1001) -> Person:
    pat = world.person(user_id, language_code=locale)
    if locale == "en":
        await pat.enrols()
    else:
        t = translator(locale)
        await pat.says("/start", expect=t("Which language would you like?"))
        await pat.presses(LANGUAGE_NAMES[locale])
        await pat.presses(t("I understand"))
        await pat.says(PLACES[locale])
        await pat.presses(t("Yes, that's right"), expect=t("When was your treatment?"))
        await pat.presses(t("Another day"))
        await pat.says(YESTERDAY[locale])
        await pat.presses(t("Yes"), expect=t("/plan shows everything that's coming."))
    await world.settle()
    return pat


def buttons_of(pat: Person, message_id: int | None) -> list[str]:
    for entry in pat.sandbox.bot_messages(pat.user_id):
        if entry.message_id == message_id:
            return [label for row in entry.buttons for label, _ in row]
    return []


def opening(level: Level, locale: str) -> str:
    """The first words of a level's reply, before the emergency number."""
    return TEXTS[locale].replies[level].split("{")[0].strip()[:24]


@pytest.mark.parametrize("locale", ["en", "es", "de", "ru"])
async def test_ticks_on_the_checklist_decide_at_once_and_reach_staff(
    world: World, locale: str
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled_in(world, locale)
    texts = TEXTS[locale]
    label = {option.key: option.label for option in texts.options}
    asked = await pat.says(VAGUE[locale], expect=texts.question)
    assert buttons_of(pat, asked.message_id) == [o.label for o in texts.options]
    assert "999" in (asked.text or "")  # the safety-net line, with the clinic's number

    await pat.presses(label["fever"], expect=opening(Level.URGENT, locale))
    ticked, done = f"✓ {label['fever']}", translator(locale)("Done")
    await pat.sandbox.wait_for(
        lambda: {ticked, done} <= set(buttons_of(pat, asked.message_id)), timeout=15
    )
    # Fever and spreading redness together are sepsis signs: an emergency, list closed.
    reply = await pat.presses(label["spreading"], expect=opening(Level.EMERGENCY, locale))
    assert "999" in (reply.text or "")
    await pat.sandbox.wait_for(lambda: buttons_of(pat, asked.message_id) == [], timeout=15)

    await world.settle()
    [report] = await reports(world)
    assert report.level == Level.EMERGENCY
    assert {"answer:fever", "answer:spreading"} <= set(report.findings)
    alert = alerts(nurse)[-1]
    assert "EMERGENCY" in alert
    assert VAGUE[locale] in alert  # the words and the ticks, together
    english = {o.key: o.label for o in TEXTS["en"].options}
    assert english["fever"] in alert
    assert english["spreading"] in alert


async def test_none_of_these_is_kept_for_review_and_says_when_to_call(world: World) -> None:
    await staff_joins(world)
    pat = await enrolled_in(world, "en")
    await pat.says(VAGUE["en"], expect=TEXTS["en"].question)
    answer = await pat.presses("None of these", expect="review")
    assert "common" not in (answer.text or "")
    assert TEXTS["en"].net("999") in (answer.text or "")
    [report] = await reports(world)
    assert report.level == Level.ROUTINE_FOLLOWUP
    assert report.findings == ["answer:none"]  # staff see every red flag was denied


async def test_words_the_rules_do_not_know_are_raised_by_the_model_and_named_for_staff(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled_in(world, "en")
    words = "I feel like my throat is getting smaller"  # no rule has these words
    reply = await pat.says(words, expect="Call 999 now")
    assert "alerted the team" in (reply.text or "")
    await world.settle()
    [alert] = alerts(nurse)
    assert "EMERGENCY" in alert
    assert TEXTS["en"].unrecognised in alert  # staff know why, and read the words
    assert words in alert


async def test_a_report_whose_answer_telegram_fails_is_still_recorded_and_alerted(
    world: World,
) -> None:
    nurse = await staff_joins(world)
    pat = await enrolled_in(world, "en")
    world.sandbox.inject_fault("sendMessage", "500", count=1, chat_id=pat.user_id)
    reply = await pat.says("my lips are swelling and I can't breathe", expect="Call")
    assert "can't be sure this reached your clinic" in (reply.text or "")  # said on failure
    [report] = await reports(world)
    assert report.level == Level.EMERGENCY
    await world.settle()
    [alert] = alerts(nurse)
    assert "EMERGENCY" in alert


async def test_the_emergency_answer_jumps_the_messages_queued_for_the_chat(
    world: World,
) -> None:
    """Five messages wait for the patient's chat (each answered 0.3 s late, so they queue
    behind the one on the wire) when the emergency text arrives: the answer goes next,
    after at most the message already on the wire, ahead of the rest."""
    pat = await enrolled_in(world, "en")
    app = world.daemon.application
    assert app is not None
    world.sandbox.inject_fault("sendMessage", "delay", count=None, chat_id=pat.user_id, delay=0.3)
    queued = [
        asyncio.create_task(app.bot.send_message(pat.user_id, f"queued {n}")) for n in range(5)
    ]
    await pat.sandbox.wait_for(lambda: "queued 0" in pat.bot_texts(), timeout=15)
    reply = await pat.says("my lips and tongue are swelling, I can't breathe", expect="Call 999")
    await asyncio.gather(*queued)
    world.sandbox.clear_faults()
    texts = pat.bot_texts()
    answered = texts.index(reply.text or "")
    assert answered < texts.index("queued 2")  # queued 1 at most was already on the wire
    assert texts.index("queued 4") > answered


async def test_an_emergency_is_answered_while_other_chats_wait_on_telegram(
    world: World,
) -> None:
    """Three other people write first, and Telegram answers every message to them 3 s
    late: their updates are handled beside the emergency, not ahead of it."""
    pat = await enrolled_in(world, "en")
    others = [world.person(2001 + n) for n in range(3)]
    for other in others:
        world.sandbox.inject_fault(
            "sendMessage", "delay", count=None, chat_id=other.user_id, delay=3
        )
        world.sandbox.user_sends_text(other.user_id, "/start")
    await pat.says("my lips and tongue are swelling, I can't breathe", expect="Call 999")
    assert [other.bot_texts() for other in others] == [[], [], []]  # still on the wire
    await world.handlers_idle()
    assert all("Which language" in other.bot_texts()[0] for other in others)


async def _alter(server: PostgresServer, url: str, change: str) -> None:
    """``ALTER DATABASE <the world's> <change>``, then cut every open connection, as a
    failover does: the daemon meets the change on its next connection."""
    name = make_url(url).database
    admin = await asyncpg.connect(dsn(server.admin_url))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" {change}')
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()


@pytest.mark.own_database
async def test_a_report_the_database_refuses_is_answered_kept_and_alerted_later(
    tmp_path: Path, postgres_template: PostgresServer
) -> None:
    async with postgres_template.database() as url:
        world = await start_world(tmp_path, START, database_url=url, **CLINIC)
        try:
            nurse = await staff_joins(world)
            pat = await enrolled_in(world, "en")
            await _alter(postgres_template, url, "SET default_transaction_read_only = on")

            reply = await pat.says("my lips are swelling and I can't breathe", expect="Call")
            assert (reply.text or "").startswith("Call 999 now")  # first, with the number
            await world.handlers_idle()
            [kept] = world.daemon.report_spool.waiting()
            assert kept.stat().st_mode & 0o777 == 0o600
            assert await reports(world) == []  # the database took nothing
            assert alerts(nurse) == []

            await _alter(postgres_template, url, "SET default_transaction_read_only = off")
            await world.settle()
            [report] = await reports(world)
            assert report.level == Level.EMERGENCY
            assert world.daemon.report_spool.waiting() == []
            [alert] = alerts(nurse)
            assert "EMERGENCY" in alert
            assert "can't breathe" in alert
        finally:
            await stop_world(world)


@pytest.mark.own_database
async def test_with_no_database_at_all_a_red_flag_still_gets_its_safe_answer(
    tmp_path: Path, postgres_template: PostgresServer
) -> None:
    async with postgres_template.database() as url:
        world = await start_world(tmp_path, START, database_url=url, **CLINIC)
        try:
            pat = await enrolled_in(world, "en")
            await _alter(postgres_template, url, "ALLOW_CONNECTIONS false")
            await world.daemon._check_lead()  # the lock's connection is gone: the lead too
            assert not world.daemon.leading
            reply = await pat.says("my lips are swelling and I can't breathe", expect="Call")
            text = reply.text or ""
            assert text.startswith("Call your local emergency number now")
            assert "can't be sure this reached your clinic" in text
            await _alter(postgres_template, url, "ALLOW_CONNECTIONS true")
        finally:
            await stop_world(world)
