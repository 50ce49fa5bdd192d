"""/export and /forget: a patient's own data, sent to them or deleted on their word."""

from __future__ import annotations

import json
import logging

from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import (
    Context,
    button_data,
    chat_id_of,
    close_buttons,
    find_patient,
    on_button,
    say,
    speak,
)
from bot.services import services
from schedules.privacy import export_patient, forget_patient

log = logging.getLogger(__name__)

EXPORT_FILENAME = "aftercare-export.json"
FORGET_YES = "pv:forget:yes"
FORGET_NO = "pv:forget:no"


async def export_command(update: Update, context: Context) -> None:
    """Send the patient everything we hold about them as a JSON document."""
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        data = (
            await export_patient(session, patient.id, svc.clinic_slug)
            if patient and patient.id
            else None
        )
    t = speak(update, patient)
    chat = update.effective_chat
    if data is None or chat is None:
        await say(update, t("I don't keep any data about you."))
        return
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await chat.send_document(
        document=body,
        filename=EXPORT_FILENAME,
        caption=t("Everything I keep about you. To delete it, send /forget."),
    )
    log.info("export sent patient=%s", patient.id if patient else None)


async def forget_command(update: Update, context: Context) -> None:
    """Ask before deleting: the buttons carry the answer, nothing half-done is stored."""
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    if patient is None:
        await say(update, t("I don't keep any data about you."))
        return
    await say(
        update,
        t(
            "Delete all your data? Your treatments, reminders and messages about symptoms will be deleted, and your clinic will no longer see them. This cannot be undone."
        ),
        [
            [(t("Yes, delete my data"), FORGET_YES)],
            [(t("No, keep it"), FORGET_NO)],
        ],
    )


async def forget_answer(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        t = speak(update, patient)
        if button_data(update) != FORGET_YES:
            await close_buttons(update, t("Kept"))
            await say(update, t("Nothing was deleted."))
            return
        if patient is None or patient.id is None:
            await close_buttons(update)
            await say(update, t("I don't keep any data about you."))
            return
        patient_id = patient.id
        counts = await forget_patient(session, patient_id)
        await session.commit()
    log.info("patient forgotten patient=%s %s", patient_id, counts.describe())
    await close_buttons(update, t("Deleted"))
    await say(
        update,
        t(
            "Your data has been deleted. I no longer know you; if you want aftercare reminders again, send /start."
        ),
    )


HANDLERS = [
    CommandHandler("export", export_command),
    CommandHandler("forget", forget_command),
    on_button(r"^pv:forget:", forget_answer),
]
