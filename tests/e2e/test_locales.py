"""Each language's whole journey, with not one English UI or protocol text on the way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from messages.i18n import LANGUAGE_NAMES, translator
from messages.render import render_step
from schedules.models import ReminderStatus
from schedules.protocol import bundled_protocol
from tests.e2e.harness import World
from tests.unit.test_i18n import TEMPLATE

PLACES = {"es": "Madrid", "de": "Berlin", "ru": "Moscow"}


def english_texts() -> set[str]:
    """English sentences a translated chat must never show: UI msgids and protocol texts."""
    with TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    # The longest placeholder-free piece of each message id: "{text}" varies, the rest not.
    pieces = (max(str(m.id).replace("}", "{").split("{")[::2], key=len) for m in template if m.id)
    ui = {piece.strip() for piece in pieces if len(piece.strip()) >= 12}
    spec = bundled_protocol()
    protocol = {render_step(spec, step.id, "en").text for step in spec.steps}
    return ui | protocol


@pytest.mark.parametrize("locale", ["es", "de", "ru"])
async def test_a_whole_journey_in_each_language(world: World, locale: str) -> None:
    t = translator(locale)
    pat = world.person(user_id=3000 + len(locale) + ord(locale[0]), language_code=locale)
    await pat.says("/start", expect=t("Which language would you like?"))
    await pat.presses(LANGUAGE_NAMES[locale])
    await pat.presses(t("I understand"))
    await pat.says(PLACES[locale])
    await pat.presses(t("Yes, that's right"), expect=t("When was your treatment?"))
    await pat.presses(t("Another day"))
    reply = await pat.says("31.02 14:00")
    assert "31.02" in (reply.text or "")
    await pat.says(
        {"es": "ayer a las 14:00", "de": "gestern um 14 Uhr", "ru": "вчера в 14:00"}[locale],
    )
    await pat.presses(t("Yes"), expect=t("/plan shows everything that's coming."))
    await world.live_until(world.clock.now() + timedelta(days=3))
    await pat.says("/plan")
    assert await world.reminders(pat.user_id, ReminderStatus.SENT)

    english = english_texts()
    for entry in world.sandbox.bot_messages(pat.user_id):
        text = entry.text or ""
        leaked = [e for e in english if e in text]
        assert not leaked, f"English in a {locale} chat: {leaked[0][:80]!r}"
        for row in entry.buttons:
            for label, _ in row:
                assert label not in english, f"English button in a {locale} chat: {label!r}"
