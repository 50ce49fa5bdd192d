"""/help, typed text that answers a question we asked, and the safety net for everything else."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.handlers.broadcast import composed
from bot.handlers.common import Context, chat_id_of, find_patient, say, speak
from bot.handlers.onboarding import typed_timezone
from bot.handlers.settings import set_quiet_hours
from bot.handlers.staff import is_staff, reply_to_patient, staff_help
from bot.handlers.symptoms import (
    NO_TREATMENT_DAY,
    photo_from_patient,
    sounds_urgent,
    triage_text,
)
from bot.handlers.treatment import typed_treatment
from bot.services import services
from messages.i18n import Translator
from messages.triage import Level, triage

log = logging.getLogger(__name__)
MAX_TEXT = 1000  # longer messages are cut before anything reads them


def help_text(t: Translator) -> str:
    return "\n".join(
        [
            t("I send aftercare tips from your clinic at the right local time."),
            "",
            t("/treated — tell me when you were treated"),
            t("/plan — what's coming next"),
            t("/settings — timezone, quiet hours, language"),
            t("/outside — I'm going out: remind me to reapply SPF"),
            t("/inside — I'm back inside"),
            t("/stop — stop reminders; /resume — start again"),
            t("/export — send me all my data; /forget — delete it"),
            t("/help — this message"),
            "",
            t(
                "I can't answer medical questions. If something worries you, contact your clinic. In an emergency, call your local emergency number."
            ),
        ]
    )


async def help_command(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    await say(update, help_text(speak(update, patient)))


async def text_message(update: Update, context: Context) -> None:
    """Route typed text to the question we are waiting on; anything else gets safe help."""
    message = update.effective_message
    text = ((message.text if message else None) or "")[:MAX_TEXT]
    if await reply_to_patient(update, context):
        return
    if await composed(update, context):  # a staff member's broadcast message
        return
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    awaiting = patient.awaiting if patient else None
    if patient is not None and awaiting and await sounds_urgent(services(context), patient, text):
        # A red flag typed where we expected a date or a city is still a red flag.
        await triage_text(update, context, patient, text)
    elif awaiting == "timezone":
        await typed_timezone(update, context, text)
    elif awaiting is not None and awaiting.startswith("treated"):
        day = awaiting.partition(":")[2] or None
        await typed_treatment(update, context, text, day)
    elif awaiting == "quiet":
        await set_quiet_hours(update, context, text)
    elif patient is not None:
        unanswered = await triage_text(update, context, patient, text)
        if unanswered is not None:
            await say(update, unanswered + "\n\n" + help_text(speak(update, patient)))
    elif await is_staff(update, context):
        await say(update, staff_help())
    else:
        await stranger_text(update, context, text)


async def stranger_text(update: Update, context: Context, text: str) -> None:
    """Someone we don't know yet: still a safe answer, but no report (no clinic to tell)."""
    t = speak(update, None)
    result = triage(text, NO_TREATMENT_DAY, services(context).triage_rules, t.locale)
    if result.level is Level.NOT_A_SYMPTOM:
        await say(update, help_text(t))
        return
    await say(
        update,
        result.reply
        + "\n\n"
        + t(
            "I don't know your clinic yet, so please contact them directly. Send /start to set up your aftercare."
        ),
    )


async def other_message(update: Update, context: Context) -> None:
    """Photos go to the clinic; stickers, voice...: we cannot read them, so say so."""
    if await composed(update, context):  # a staff member's broadcast photo
        return
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    message = update.effective_message
    if patient is not None and message is not None and message.photo:
        await photo_from_patient(update, context, patient)
        return
    t = speak(update, patient)
    await say(
        update,
        t(
            "I can only read text. If you want to show your skin to someone, please contact your clinic."
        ),
    )


async def stale_button(update: Update, context: Context) -> None:
    """A button we no longer know (old message, changed plan): answer it, never ignore it."""
    query = update.callback_query
    if query is None:
        return
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    await query.answer(
        t("This button is no longer active. Send /help to see what I can do."), show_alert=True
    )


async def unknown_command(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    await say(update, t("I don't know that command.") + "\n\n" + help_text(t))


async def on_error(update: object, context: Context) -> None:
    """Log the failure by kind only (never the patient's text) and apologise."""
    error = context.error
    log.error(
        "handler failed: %s",
        type(error).__name__,
        exc_info=(type(error), error, error.__traceback__) if error else None,
    )
    if isinstance(update, Update) and update.effective_chat is not None:
        t = speak(update, None)
        try:
            await say(update, _failed_answer(update, context, t), first=True)
        except Exception:  # the apology is best effort; the error is already logged
            log.warning("could not apologise to the chat")


def _failed_answer(update: Update, context: Context, t: Translator) -> str:
    """What to say when handling failed: a symptom still gets its safe answer (the rules
    need no database), with the honest word that the clinic has not been told."""
    message = update.effective_message
    text = (message.text or message.caption or "") if message else ""
    if text and not text.startswith("/"):
        rules = services(context).triage_rules
        result = triage(text[:MAX_TEXT], NO_TREATMENT_DAY, rules, t.locale, second_opinion=False)
        if result.level >= Level.ROUTINE_FOLLOWUP:
            return (
                result.reply
                + "\n\n"
                + t(
                    "Something went wrong on my side, so I can't be sure this reached your clinic. Please contact them directly."
                )
            )
    return t(
        "Sorry, something went wrong on my side. Please try again in a moment. If it's about your health, contact your clinic."
    )


HANDLERS = [
    CommandHandler("help", help_command),
    MessageHandler(filters.COMMAND, unknown_command),
    MessageHandler(filters.TEXT & ~filters.COMMAND, text_message),
    MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL, other_message),
    CallbackQueryHandler(stale_button),
]
