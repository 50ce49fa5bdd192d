"""/settings: timezone, quiet hours, language."""

from __future__ import annotations

import re
from datetime import time

from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import (
    Context,
    button_data,
    chat_id_of,
    close_buttons,
    find_patient,
    on_button,
    remember,
    say,
    speak,
)
from bot.handlers.course import ask_course
from bot.handlers.onboarding import ask_timezone, language_rows
from bot.handlers.planning import replan_and_report
from bot.services import services
from messages.i18n import LANGUAGE_NAMES, translator

QUIET_PRESETS = ("21:00-08:00", "22:00-07:00", "23:00-09:00", "20:00-09:00")
_QUIET = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})\s*$")


def parse_quiet_hours(text: str) -> tuple[str, str] | None:
    """ "22:30-07:00" → ("22:30", "07:00"); None if it is not two valid times."""
    match = _QUIET.match(text[:32])
    if match is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        return None
    return start.strftime("%H:%M"), end.strftime("%H:%M")


async def settings_command(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    if patient is None:
        await say(update, t("Please send /start first."))
        return
    summary = t(
        "Your settings:\nTimezone: {zone}\nQuiet hours: {start}–{end}\nLanguage: {language}",
        zone=patient.timezone or "—",
        start=patient.quiet_start,
        end=patient.quiet_end,
        language=LANGUAGE_NAMES.get(patient.locale, patient.locale),
    )
    await say(
        update,
        summary,
        [
            [
                (t("Timezone"), "set:tz"),
                (t("Quiet hours"), "set:quiet"),
                (t("Language"), "set:lang"),
            ],
            [(t("Skin profile"), "pf:menu"), (t("Treatment course"), "set:course")],
        ],
    )


async def settings_choice(update: Update, context: Context) -> None:
    choice = button_data(update)
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    await close_buttons(update)
    if choice == "set:tz":
        await ask_timezone(update, context, t)
    elif choice == "set:course":
        await ask_course(update, context, t)
    elif choice == "set:lang":
        await say(update, t("Which language would you like?"), language_rows())
    else:
        await remember(context, update, "quiet")
        await say(
            update,
            t("When should I stay silent? Pick a window or type one like 22:30-07:00."),
            [
                [(p.replace("-", "–"), f"qh:{p}") for p in QUIET_PRESETS[:2]],
                [(p.replace("-", "–"), f"qh:{p}") for p in QUIET_PRESETS[2:]],
            ],
        )


async def quiet_chosen(update: Update, context: Context) -> None:
    await close_buttons(update)
    await set_quiet_hours(update, context, button_data(update).removeprefix("qh:"))


async def set_quiet_hours(update: Update, context: Context, text: str) -> None:
    svc = services(context)
    window = parse_quiet_hours(text)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        t = speak(update, patient)
        if patient is None:
            await say(update, t("Please send /start first."))
            return
        if window is None:
            await say(update, t('I couldn\'t read that. Please type two times like "22:30-07:00".'))
            return
        patient.quiet_start, patient.quiet_end = window
        patient.awaiting = None
        session.add(patient)
        await session.commit()
    t = translator(patient.locale)
    await say(update, t("Quiet hours set to {start}–{end}.", start=window[0], end=window[1]))
    if patient.timezone is not None:
        await replan_and_report(update, context, t)


HANDLERS = [
    CommandHandler("settings", settings_command),
    on_button(r"^set:(tz|lang|quiet|course)$", settings_choice),
    on_button(r"^qh:", quiet_chosen),
]
